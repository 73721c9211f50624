//! `--currents-projects`: which repositories each Currents project may report on. A run's
//! project and repository come from the Currents API, and App mode writes a check or a comment
//! only where this list allows; without it, anyone who can record a run could write on any
//! repository the App is installed on.

use std::fmt;

use crate::currents::ProjectId;
use crate::github::Repository;

/// The allowed (project, repository) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRepos(Vec<(ProjectId, RepoPattern)>);

/// `OWNER/REPO`, or `OWNER/*` for every repository of an owner; compared case-insensitively,
/// as GitHub names are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RepoPattern {
    One { owner: String, name: String },
    Owner(String),
}

impl RepoPattern {
    fn matches(&self, repo: &Repository) -> bool {
        match self {
            Self::One { owner, name } => {
                owner.eq_ignore_ascii_case(&repo.owner) && name.eq_ignore_ascii_case(&repo.name)
            }
            Self::Owner(owner) => owner.eq_ignore_ascii_case(&repo.owner),
        }
    }
}

impl fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::One { owner, name } => write!(f, "{owner}/{name}"),
            Self::Owner(owner) => write!(f, "{owner}/*"),
        }
    }
}

/// The format, for error messages.
pub const FORMAT: &str = "PROJECT_ID=OWNER/REPO or PROJECT_ID=OWNER/*, comma-separated, e.g. Xk9Pq2=acme/webapp,Xk9Pq2=acme/*";

impl ProjectRepos {
    /// Parses `PROJECT_ID=OWNER/REPO` and `PROJECT_ID=OWNER/*` entries, comma-separated; a
    /// project may appear more than once. The error names the entry and the format.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("{entry:?} is not {FORMAT}");
            let (project, repo) = entry.split_once('=').ok_or_else(bad)?;
            let (owner, name) = repo.trim().split_once('/').ok_or_else(bad)?;
            let (project, owner, name) = (project.trim(), owner.trim(), name.trim());
            let word = |s: &str| {
                !s.is_empty()
                    && s.len() <= 100
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            if !word(project) || !word(owner) || !(name == "*" || word(name)) {
                return Err(bad());
            }
            let pattern = if name == "*" {
                RepoPattern::Owner(owner.to_owned())
            } else {
                RepoPattern::One {
                    owner: owner.to_owned(),
                    name: name.to_owned(),
                }
            };
            entries.push((ProjectId::new(project), pattern));
        }
        if entries.is_empty() {
            return Err(format!("no entry; expected {FORMAT}"));
        }
        Ok(Self(entries))
    }

    /// No project may report anywhere (App mode without Currents' webhooks).
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Whether project `project` may report on `repo`.
    pub fn allows(&self, project: &ProjectId, repo: &Repository) -> bool {
        self.0.iter().any(|(p, r)| p == project && r.matches(repo))
    }

    /// Whether any project may report on `repo` (what intake can tell before asking Currents).
    pub fn allows_any(&self, repo: &Repository) -> bool {
        self.0.iter().any(|(_, r)| r.matches(repo))
    }

    /// The projects listed, each once, in order.
    pub fn projects(&self) -> Vec<ProjectId> {
        let mut projects: Vec<ProjectId> = Vec::new();
        for (project, _) in &self.0 {
            if !projects.contains(project) {
                projects.push(project.clone());
            }
        }
        projects
    }
}

impl fmt::Display for ProjectRepos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self.0.iter().map(|(p, r)| format!("{p}={r}")).collect();
        f.write_str(&entries.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(full: &str) -> Repository {
        Repository::parse(full).unwrap()
    }

    #[test]
    fn entries_allow_their_repositories_only() {
        let list =
            ProjectRepos::parse(" Xk9Pq2=acme/webapp, Xk9Pq2=Acme/Docs ,Other1=tools/*").unwrap();
        let xk = ProjectId::new("Xk9Pq2");
        let other = ProjectId::new("Other1");
        assert!(list.allows(&xk, &repo("acme/webapp")));
        assert!(list.allows(&xk, &repo("ACME/WebApp")));
        assert!(list.allows(&xk, &repo("acme/docs")));
        assert!(!list.allows(&xk, &repo("acme/other")));
        assert!(!list.allows(&xk, &repo("tools/x")));
        assert!(list.allows(&other, &repo("tools/anything")));
        assert!(!list.allows(&other, &repo("acme/webapp")));
        assert!(
            !list.allows(&ProjectId::new("xk9pq2"), &repo("acme/webapp")),
            "project ids are exact"
        );
        assert!(list.allows_any(&repo("tools/y")));
        assert!(!list.allows_any(&repo("victim/other")));
        assert_eq!(list.projects(), vec![xk, other]);
        assert_eq!(
            list.to_string(),
            "Xk9Pq2=acme/webapp,Xk9Pq2=Acme/Docs,Other1=tools/*"
        );
    }

    #[test]
    fn bad_entries_name_themselves_and_the_format() {
        for bad in [
            "",
            " , ",
            "acme/webapp",
            "Xk9Pq2=acme",
            "Xk9Pq2=*/*",
            "=acme/webapp",
            "X=a/b/c",
            "X=a b/c",
        ] {
            let error = ProjectRepos::parse(bad).unwrap_err();
            assert!(error.contains("PROJECT_ID=OWNER/REPO"), "{bad}: {error}");
        }
    }
}
