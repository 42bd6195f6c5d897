//! Every preset's output passes the real validators, through `shipready
//! verify --strict` (which fails when a validator is missing), and verify
//! really fails on a broken file.

mod common;

use common::{init_preset, require_tool, Run};

/// Tools `verify` runs on the core files; each area's test adds its own.
const CORE_TOOLS: &[&str] = &["hadolint", "docker-compose", "yamllint", "shellcheck"];

#[test]
fn every_preset_passes_verify_strict() {
    for tool in CORE_TOOLS {
        require_tool(tool);
    }
    for preset in common::presets() {
        let run = init_preset(&preset);
        let out = Run::in_dir(run.dir).args(["verify", "--strict"]).run();
        assert_eq!(
            out.code, 0,
            "{preset}: verify failed\n{}{}",
            out.stdout, out.stderr
        );
        for (validator, target) in [
            ("hadolint", "Dockerfile"),
            ("docker-compose", "compose.yaml"),
            ("docker-compose", "compose.prod.yaml"),
            ("yamllint", "compose.prod.yaml"),
        ] {
            let line = out
                .stdout
                .lines()
                .find(|l| l.contains(validator) && l.trim_end().ends_with(target));
            assert!(
                line.is_some_and(|l| l.trim_start().starts_with("ok")),
                "{preset}: no passing {validator} line for {target}\n{}",
                out.stdout
            );
        }
        assert!(
            out.stdout.contains(" 0 failed, 0 skipped"),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn verify_fails_on_a_broken_compose_file_and_a_bad_dockerfile() {
    for tool in CORE_TOOLS {
        require_tool(tool);
    }
    let run = init_preset("twilio-voice");
    let compose = run
        .read("compose.prod.yaml")
        .replace("    cap_drop:\n", "    cap_drop: [\n");
    std::fs::write(run.path().join("compose.prod.yaml"), compose).unwrap();
    let dockerfile = run
        .read("Dockerfile")
        .replace("USER node", "USER node\nRUN cd /tmp && echo hi");
    std::fs::write(run.path().join("Dockerfile"), dockerfile).unwrap();
    let out = Run::in_dir(run.dir).args(["verify"]).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("FAIL  docker-compose   compose.prod.yaml"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("DL3003"),
        "hadolint's finding is shown: {}",
        out.stdout
    );
}

#[test]
fn verify_strict_fails_when_a_validator_is_missing() {
    let run = init_preset("node-dashboard");
    // An empty PATH: every validator is missing.
    let out = Run::in_dir(run.dir)
        .args(["verify", "--strict"])
        .env("PATH", "")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("not found on PATH"), "{}", out.stdout);
    let lenient = Run::in_dir(tempfile::tempdir().unwrap())
        .args(["verify"])
        .run();
    assert_eq!(
        lenient.code, 2,
        "no lock: an input error\n{}",
        lenient.stderr
    );
}

#[test]
fn generated_shell_scripts_pass_shellcheck() {
    require_tool("shellcheck");
    for preset in common::presets() {
        let run = init_preset(&preset);
        for script in ["docker-entrypoint.sh", "scripts/init-secrets.sh"] {
            let out = std::process::Command::new("shellcheck")
                .arg(run.path().join(script))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{preset}/{script}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

#[test]
fn init_secrets_creates_files_once_and_never_overwrites() {
    require_tool("openssl");
    let run = init_preset("ringcentral-hold-hunter");
    let script = run.path().join("scripts/init-secrets.sh");
    let first = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let pw = run.read("secrets/redis_password");
    assert!(pw.len() >= 32, "a strong random password");
    assert!(
        run.read("secrets/redis_users.acl")
            .starts_with("user default on #"),
        "password stored hashed"
    );
    assert!(
        !run.read("secrets/redis_users.acl").contains(&pw),
        "no plain password in the ACL file"
    );
    let again = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        run.read("secrets/redis_password"),
        pw,
        "kept on a second run"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A private directory; files the containers' own users can read.
        let mode = |p: &str| {
            std::fs::metadata(run.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("secrets"), 0o700, "the secrets directory is private");
        assert_eq!(
            mode("secrets/redis_password"),
            0o644,
            "non-root containers read the bind-mounted file"
        );
    }
}
