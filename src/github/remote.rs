//! Which GitHub a git remote points at: the web host of a GitHub server (`--github-server-url`)
//! and the repository of a remote in every shape git accepts.
//!
//! A remote comes from whoever recorded the run, so it is only ever compared with what the
//! operator configured, never followed.

use super::Repository;

/// The web host that remotes must be on: `github.com`, a GHES host, or `SUB.ghe.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubServer {
    /// Lower case, without a port.
    host: String,
}

impl GithubServer {
    /// The server of a web URL (`GITHUB_SERVER_URL`); `None` without a host.
    pub fn from_server_url(url: &url::Url) -> Option<Self> {
        url.host_str().map(|host| Self {
            host: canonical_host(host),
        })
    }

    /// The server an API URL belongs to: `api.github.com` → `github.com`, `https://HOST/api/v3`
    /// → `HOST`, `https://api.SUB.ghe.com` → `SUB.ghe.com` (GitHub Enterprise Cloud with data
    /// residency).
    pub fn from_api_url(api_url: &url::Url) -> Self {
        let host = api_url
            .host_str()
            .map_or_else(|| "github.com".to_owned(), str::to_ascii_lowercase);
        let host = match host.strip_prefix("api.") {
            Some("github.com") => "github.com".to_owned(),
            Some(rest) if rest.ends_with(".ghe.com") => rest.to_owned(),
            _ => host,
        };
        Self {
            host: canonical_host(&host),
        }
    }

    /// The web URL, for messages.
    pub fn url(&self) -> String {
        format!("https://{}", self.host)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether a remote's `host` is this server's, case-insensitively; `ssh.github.com` (SSH
    /// over port 443) and `www.github.com` count as `github.com`.
    pub fn is_host_of(&self, host: &str) -> bool {
        canonical_host(host) == self.host
    }
}

/// Lower case, with GitHub's aliases of `github.com` folded into it.
fn canonical_host(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match host.as_str() {
        "ssh.github.com" | "www.github.com" => "github.com".to_owned(),
        _ => host,
    }
}

/// The host and repository of a git remote: `https://[user[:password]@]host[:port]/owner/repo(.git)`,
/// `ssh://[user@]host[:port]/owner/repo(.git)`, `git://…`, or scp-like `[user@]host:owner/repo(.git)`.
/// `None` for anything else, or for owner and repository names GitHub would not accept.
pub fn repository_of(remote: &str) -> Option<(String, Repository)> {
    let remote = remote.trim();
    let (host, path) = if remote.contains("://") {
        let url = url::Url::parse(remote).ok()?;
        if !matches!(url.scheme(), "https" | "http" | "ssh" | "git" | "git+ssh") {
            return None;
        }
        (url.host_str()?.to_owned(), url.path().to_owned())
    } else {
        // scp-like syntax: [user@]host:path; a path with a slash before the colon is local.
        let (authority, path) = remote.split_once(':')?;
        if authority.contains('/') {
            return None;
        }
        let host = authority.rsplit('@').next()?;
        (host.to_owned(), path.to_owned())
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let repository = Repository::parse(path)?;
    let valid = |s: &str| {
        s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s != "."
            && s != ".."
    };
    let host_valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'));
    (valid(&repository.owner) && valid(&repository.name) && host_valid)
        .then(|| (host.to_ascii_lowercase(), repository))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme(host: &str) -> Option<(String, Repository)> {
        Some((
            host.to_owned(),
            Repository {
                owner: "acme".into(),
                name: "webapp".into(),
            },
        ))
    }

    #[test]
    fn remotes_of_every_shape() {
        for remote in [
            "https://github.com/acme/webapp",
            "https://github.com/acme/webapp.git",
            "https://x-access-token:abc@github.com/acme/webapp/",
            "https://GitHub.com:443/acme/webapp.git",
            "git@github.com:acme/webapp.git",
            "github.com:acme/webapp",
            "git://github.com/acme/webapp.git",
        ] {
            assert_eq!(repository_of(remote), acme("github.com"), "{remote}");
        }
        assert_eq!(
            repository_of("ssh://git@ssh.github.com:443/acme/webapp.git"),
            acme("ssh.github.com")
        );
        assert_eq!(
            repository_of("ssh://git@ghe.example.com:2222/acme/webapp.git"),
            acme("ghe.example.com")
        );
        for bad in [
            "https://github.com/acme",
            "https://github.com/acme/web/app",
            "https://github.com/acme/we%0Abapp",
            "https://github.com/acme/..",
            "file:///srv/acme/webapp.git",
            "/srv/acme/webapp.git",
            "./a:b/c",
            "not a remote",
        ] {
            assert_eq!(repository_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn servers_from_api_urls() {
        let server = |url: &str| GithubServer::from_api_url(&url.parse().unwrap());
        assert_eq!(server("https://api.github.com").host(), "github.com");
        assert_eq!(
            server("https://GHE.example.com/api/v3").host(),
            "ghe.example.com"
        );
        assert_eq!(server("https://api.acme.ghe.com").host(), "acme.ghe.com");
        assert_eq!(
            server("https://proxy.internal/github").host(),
            "proxy.internal"
        );
        assert_eq!(server("https://api.github.com").url(), "https://github.com");
    }

    #[test]
    fn hosts_match_case_insensitively_with_githubs_aliases() {
        let github = GithubServer::from_server_url(&"https://github.com".parse().unwrap()).unwrap();
        for host in [
            "github.com",
            "GitHub.com",
            "ssh.github.com",
            "www.github.com",
            "github.com.",
        ] {
            assert!(github.is_host_of(host), "{host}");
        }
        assert!(!github.is_host_of("gitlab.com"));
        assert!(!github.is_host_of("github.com.evil.example"));
        let ghe = GithubServer::from_api_url(&"https://api.acme.ghe.com".parse().unwrap());
        assert!(ghe.is_host_of("ACME.ghe.com"));
        assert!(!ghe.is_host_of("github.com"));
    }
}
