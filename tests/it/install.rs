//! The install action's shell logic (install/install.sh), run with bash here: the platform
//! mapping, and a download that is verified against the sums the action carries.

use std::path::Path;

use axum::Router;
use axum::routing::get;
use sha2::{Digest, Sha256};

/// A copy of the install action as a release tag would carry it: the script as committed, plus
/// RELEASE and SHA256SUMS.
fn release_copy(sums: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install/install.sh");
    std::fs::copy(script, dir.path().join("install.sh")).unwrap();
    std::fs::write(
        dir.path().join("RELEASE"),
        "repository=acme/currents-bridge\nversion=1.2.3\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("SHA256SUMS"), sums).unwrap();
    dir
}

struct Installed {
    code: Option<i32>,
    stdout: String,
    runner_temp: tempfile::TempDir,
    github_path: String,
}

async fn install(action: &Path, os: &str, arch: &str, download_url: &str) -> Installed {
    let runner_temp = tempfile::tempdir().unwrap();
    let github_path = runner_temp.path().join("github_path");
    std::fs::write(&github_path, "").unwrap();
    let output = tokio::process::Command::new("bash")
        .arg(action.join("install.sh"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUNNER_OS", os)
        .env("RUNNER_ARCH", arch)
        .env("RUNNER_TEMP", runner_temp.path())
        .env("GITHUB_PATH", &github_path)
        .env("CURRENTS_BRIDGE_DOWNLOAD_URL", download_url)
        .output()
        .await
        .unwrap();
    Installed {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
        github_path: std::fs::read_to_string(&github_path).unwrap(),
        runner_temp,
    }
}

/// Serves `body` as the Linux x64 asset of release 1.2.3.
async fn release_server(body: &'static [u8]) -> String {
    let app = Router::new().route(
        "/v1.2.3/currents-bridge-x86_64-unknown-linux-musl",
        get(move || async move { body }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1.2.3")
}

const BINARY: &[u8] = b"\x7fELF not really a binary, but bytes with a known sum";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn runner_platforms_map_to_release_assets() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install/install.sh");
    for (os, arch, asset) in [
        ("Linux", "X64", "currents-bridge-x86_64-unknown-linux-musl"),
        (
            "Linux",
            "ARM64",
            "currents-bridge-aarch64-unknown-linux-musl",
        ),
        ("macOS", "X64", "currents-bridge-x86_64-apple-darwin"),
        ("macOS", "ARM64", "currents-bridge-aarch64-apple-darwin"),
        (
            "Windows",
            "X64",
            "currents-bridge-x86_64-pc-windows-msvc.exe",
        ),
        (
            "Windows",
            "ARM64",
            "currents-bridge-x86_64-pc-windows-msvc.exe",
        ),
    ] {
        let output = tokio::process::Command::new("bash")
            .arg(&script)
            .args(["target", os, arch])
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{os}/{arch}: {output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), asset);
    }
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .args(["target", "Linux", "ARM"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("::error")
            && said.contains("no currents-bridge binary for runner Linux/ARM"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_download_is_installed_on_path() {
    let url = release_server(BINARY).await;
    let action = release_copy(&format!(
        "{}  currents-bridge-x86_64-unknown-linux-musl\n{}  currents-bridge-aarch64-apple-darwin\n",
        sha256_hex(BINARY),
        sha256_hex(b"other")
    ));
    let out = install(action.path(), "Linux", "X64", &url).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let bin = out.runner_temp.path().join("currents-bridge/1.2.3/bin");
    assert_eq!(std::fs::read(bin.join("currents-bridge")).unwrap(), BINARY);
    assert_eq!(out.github_path, format!("{}\n", bin.display()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(bin.join("currents-bridge"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "executable");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checksum_mismatch_fails_clearly_and_installs_nothing() {
    let url = release_server(BINARY).await;
    let wrong = sha256_hex(b"what the release really published");
    let action = release_copy(&format!(
        "{wrong}  currents-bridge-x86_64-unknown-linux-musl\n"
    ));
    let out = install(action.path(), "Linux", "X64", &url).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.contains("::error title=currents-bridge install::checksum mismatch for currents-bridge-x86_64-unknown-linux-musl")
            && out.stdout.contains(&wrong)
            && out.stdout.contains(&sha256_hex(BINARY)),
        "{}",
        out.stdout
    );
    assert_eq!(out.github_path, "", "nothing was put on PATH");
    let bin = out.runner_temp.path().join("currents-bridge/1.2.3");
    let left: Vec<_> = walk(&bin);
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_without_release_sums_refuses_to_install() {
    let url = release_server(BINARY).await;
    let action = release_copy("");
    std::fs::remove_file(action.path().join("SHA256SUMS")).unwrap();
    let out = install(action.path(), "Linux", "X64", &url).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("use it at a release tag"),
        "{}",
        out.stdout
    );
    // A sums file without this platform's asset is refused too.
    let action = release_copy(&format!(
        "{}  currents-bridge-x86_64-apple-darwin\n",
        sha256_hex(BINARY)
    ));
    let out = install(action.path(), "Linux", "X64", &url).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout
            .contains("has no sum for currents-bridge-x86_64-unknown-linux-musl"),
        "{}",
        out.stdout
    );
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// What the release workflow does to the tagged tree (scripts/pin-release.sh), checked here:
/// the pinned action.yml still parses and runs the image by digest with the same inputs, and
/// the install action of that tree verifies against the release's sums.
#[tokio::test(flavor = "multi_thread")]
async fn the_release_commit_pins_the_image_and_carries_the_sums() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("action.yml"), root.path().join("action.yml")).unwrap();
    std::fs::create_dir(root.path().join("install")).unwrap();
    for file in ["action.yml", "install.sh"] {
        std::fs::copy(
            repo.join("install").join(file),
            root.path().join("install").join(file),
        )
        .unwrap();
    }
    let sums = root.path().join("SHA256SUMS");
    std::fs::write(
        &sums,
        format!(
            "{}  currents-bridge-x86_64-unknown-linux-musl\n",
            sha256_hex(BINARY)
        ),
    )
    .unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let pin = |version: &str, digest: &str| {
        std::process::Command::new("bash")
            .arg(repo.join("scripts/pin-release.sh"))
            .args([
                version,
                "acme/currents-bridge",
                "ghcr.io/acme/currents-bridge",
                digest,
            ])
            .arg(&sums)
            .arg(root.path())
            .output()
            .unwrap()
    };
    assert!(!pin("main", &digest).status.success(), "only version tags");
    assert!(
        !pin("v1.2.3", "sha256:short").status.success(),
        "only full digests"
    );
    let pinned = pin("v1.2.3", &digest);
    assert!(pinned.status.success(), "{pinned:?}");

    let original = crate::support::action::action_metadata("action.yml");
    let released = crate::support::action::action_metadata_at(&root.path().join("action.yml"));
    assert_eq!(
        released.runs.image.as_deref(),
        Some(format!("docker://ghcr.io/acme/currents-bridge@{digest}").as_str())
    );
    assert_eq!(released.runs.env, original.runs.env);
    assert_eq!(released.runs.args, original.runs.args);
    assert_eq!(
        released.inputs.keys().collect::<Vec<_>>(),
        original.inputs.keys().collect::<Vec<_>>()
    );

    let url = release_server(BINARY).await;
    let out = install(&root.path().join("install"), "Linux", "X64", &url).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("Installed currents-bridge 1.2.3"),
        "{}",
        out.stdout
    );
}
