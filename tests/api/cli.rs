//! The binary: `--help`, `migrate`, `org create`, and the first-start bootstrap.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The binary, run in `dir`, with no database or key settings from the environment.
pub fn muster(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    cmd.current_dir(dir)
        .env_remove("MUSTER_DATABASE_URL")
        .env_remove("MUSTER_JWT_SECRET")
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn help_and_readme_document_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = muster(dir.path()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let settings = serde_json::to_value(muster::config::Settings::default()).unwrap();
    for key in settings.as_object().unwrap().keys() {
        let env = format!("MUSTER_{}", key.to_uppercase());
        assert!(help.contains(&env), "--help does not mention {env}");
        assert!(
            readme.contains(&format!("`{env}`")),
            "the README settings table lacks {env}"
        );
    }
}

#[test]
fn migrate_and_org_create_work_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let status = muster(dir.path()).arg("migrate").status().unwrap();
    assert!(status.success());
    assert!(
        dir.path().join("muster-data/muster.db").exists(),
        "the default database is created"
    );
    let out = muster(dir.path())
        .args(["org", "create", "--name", "Acme", "--admin-email", "boss@acme.test"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("boss@acme.test"));
    assert!(stdout.contains("admin password (shown once): "));
    let again = muster(dir.path())
        .args(["org", "create", "--name", "Acme 2", "--admin-email", "BOSS@acme.test"])
        .output()
        .unwrap();
    assert!(!again.status.success(), "the email is taken");
}

#[test]
fn first_start_prints_a_random_admin_password_once_and_keeps_the_signing_key_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = muster(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut password = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.contains("It is shown only this once") {
            break;
        }
        let trimmed = line.trim();
        if trimmed.len() == 24 && trimmed.chars().all(|c| c.is_ascii_alphanumeric()) {
            password = Some(trimmed.to_owned());
        }
    }
    // The signing key is generated after the bootstrap password is printed: wait for it
    // rather than racing the server's start-up.
    let key = dir.path().join("muster-data/jwt-secret");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !key.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(password.is_some(), "a 24-character password was printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("muster-data/jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
