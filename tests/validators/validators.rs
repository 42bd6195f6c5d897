//! Every preset's output passes the real validators, through `shipready
//! verify --strict` (which fails when a validator is missing), and verify
//! really fails on a broken file, showing the validator's own words, in
//! plain text when piped, and ends quietly when its reader goes away.
//!
//! This is the one place the whole validator table runs over every preset;
//! the area tests run single validators on files they change.

use crate::common;

use common::{init_preset, require_tool, Run};
use shipready::core::lock::{Lock, LOCK_FILE};
use shipready::verify::VALIDATORS;
use std::process::{Command, Stdio};

/// Tools `verify` runs on the core files; each area's test adds its own.
const CORE_TOOLS: &[&str] = &[
    "hadolint",
    "docker-compose",
    "yamllint",
    "shellcheck",
    "promtool",
    "amtool",
    "gixy",
    "nginx",
];

/// Checks every preset must pass by name (beyond the count of all of them).
const MUST_PASS: &[(&str, &str)] = &[
    ("hadolint", "Dockerfile"),
    ("docker-compose", "compose.yaml"),
    ("docker-compose", "compose.prod.yaml"),
    ("yamllint", "compose.prod.yaml"),
    ("shellcheck", "docker-entrypoint.sh"),
    ("shellcheck", "scripts/init-secrets.sh"),
    ("py_compile", "loadtest/locustfile.py"),
    ("py_compile", "loadtest/shapes.py"),
    ("yamllint", ".github/workflows/loadtest.yml"),
    ("actionlint", ".github/workflows/loadtest.yml"),
    ("zizmor", ".github/workflows/loadtest.yml"),
    // Run here once for the whole suite; tests/validators/terraform.rs checks the rest.
    ("terraform-fmt", "infra/terraform"),
    ("hcl-parse", "infra/terraform"),
    ("checkov", "infra/terraform"),
    // The monitoring and edge checks that tests/services/observability.rs and
    // tests/services/edge.rs rely on this test for.
    ("promtool-config", "monitoring/prometheus/prometheus.yml"),
    ("amtool", "monitoring/alertmanager/alertmanager.yml"),
    ("nginx -t", "deploy/nginx/nginx.conf"),
    ("gixy", "deploy/nginx/nginx.conf"),
];

/// Validators that must pass on every generated file of a kind (path
/// prefix, suffix), whatever the preset generates of it.
const EVERY_FILE: &[(&str, &str, &str)] = &[
    ("promtool-rules", "monitoring/prometheus/rules/", ".yml"),
    ("promtool-test", "monitoring/prometheus/tests/", ".yml"),
    ("shellcheck", "", ".sh"),
];

/// The `ok` line of `validator` on `target` in verify's report.
fn passed(stdout: &str, validator: &str, target: &str) -> bool {
    stdout.lines().any(|l| {
        let l = l.trim();
        l.starts_with("ok ")
            && l.contains(&format!(" {validator} "))
            && l.ends_with(&format!(" {target}"))
    })
}

/// How many checks verify should run on a generated tree: every target of
/// every validator, over the files the lock lists.
fn expected_checks(root: &std::path::Path) -> usize {
    let lock = Lock::read(root).unwrap().expect("a lock file");
    let paths: Vec<&str> = lock.files.keys().map(String::as_str).collect();
    VALIDATORS.iter().map(|v| (v.targets)(&paths).len()).sum()
}

#[test]
fn every_preset_passes_verify_strict() {
    for tool in CORE_TOOLS {
        require_tool(tool);
    }
    let presets = common::presets();
    let mut checked = 0;
    for preset in &presets {
        let run = init_preset(preset);
        let expected = expected_checks(run.path());
        let lock = Lock::read(run.path()).unwrap().expect("a lock file");
        let out = Run::in_dir(run.dir).args(["verify", "--strict"]).run();
        assert_eq!(
            out.code, 0,
            "{preset}: verify failed\n{}{}",
            out.stdout, out.stderr
        );
        for (validator, target) in MUST_PASS {
            assert!(
                passed(&out.stdout, validator, target),
                "{preset}: no passing {validator} line for {target}\n{}",
                out.stdout
            );
        }
        for (validator, prefix, suffix) in EVERY_FILE {
            let files: Vec<&String> = lock
                .files
                .keys()
                .filter(|p| p.starts_with(prefix) && p.ends_with(suffix))
                .collect();
            assert!(!files.is_empty(), "{preset}: no file for {validator}");
            for f in files {
                assert!(
                    passed(&out.stdout, validator, f),
                    "{preset}: no passing {validator} line for {f}\n{}",
                    out.stdout
                );
            }
        }
        // Every check is on its own `ok` line, and the summary agrees: none
        // was dropped on the way.
        let ok_lines = out
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("ok "))
            .count();
        assert_eq!(ok_lines, expected, "{preset}:\n{}", out.stdout);
        let summary =
            format!("verify: {expected} passed, 0 failed, 0 skipped; {expected} checks of ");
        assert!(
            out.stdout.contains(&summary) && out.stdout.contains("(0 missing, not checked)"),
            "{preset}: want {summary:?}\n{}",
            out.stdout
        );
        checked += 1;
    }
    assert_eq!(checked, presets.len());
    assert!(checked >= 5, "every preset: {presets:?}");
}

/// Delete every generated file but `keep` (the lock stays), so verify checks
/// only those; returns how many were deleted.
fn keep_only(run: &Run, keep: &[&str]) -> usize {
    let mut deleted = 0;
    for file in run.files() {
        // The lock and its kept renders stay: they are not generated files.
        let state = file.starts_with(".shipready/");
        if file != LOCK_FILE && !state && !keep.contains(&file.as_str()) {
            std::fs::remove_file(run.path().join(&file)).unwrap();
            deleted += 1;
        }
    }
    for file in keep {
        assert!(run.path().join(file).is_file(), "{file} was not generated");
    }
    deleted
}

/// SIGPIPE's number on Linux and the BSDs.
fn libc_sigpipe() -> i32 {
    13
}

/// A Dockerfile hadolint rejects (DL3003), alone in the tree.
/// A `cd` in a RUN after the image's USER line: hadolint's DL3003.
fn break_dockerfile(run: &Run) {
    let dockerfile = run.read("Dockerfile");
    let user = "USER 10001:10001";
    assert!(dockerfile.contains(user), "no {user} line to break after");
    let broken = dockerfile.replace(user, &format!("{user}\nRUN cd /tmp && echo hi"));
    std::fs::write(run.path().join("Dockerfile"), broken).unwrap();
}

fn bad_dockerfile_only() -> Run {
    let run = init_preset("twilio-voice");
    break_dockerfile(&run);
    keep_only(&run, &["Dockerfile", ".hadolint.yaml"]);
    run
}

/// The binary with stdout and stderr piped and no colour settings of the
/// environment's own: shipready must decide by itself.
fn shipready_piped(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("shipready"));
    cmd.current_dir(dir)
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR"] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn piped_verify_output_has_no_escape_codes() {
    let hadolint = require_tool("hadolint");
    let run = bad_dockerfile_only();
    // hadolint colours its findings even into a pipe...
    let raw = Command::new(&hadolint)
        .current_dir(run.path())
        .env_remove("NO_COLOR")
        .arg("Dockerfile")
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&raw.stdout);
    assert!(raw.contains('\x1b'), "hadolint no longer colours: {raw}");
    // ...but not through verify, piped, without NO_COLOR.
    let out = shipready_piped(run.path()).arg("verify").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("DL3003"),
        "hadolint's finding is shown: {stdout}"
    );
    assert!(
        !stdout.contains('\x1b') && !stderr.contains('\x1b'),
        "escape codes in piped output:\n{stdout:?}\n{stderr:?}"
    );
}

#[test]
fn verify_ends_quietly_when_its_reader_goes_away() {
    require_tool("hadolint");
    let run = bad_dockerfile_only();
    // The reader is gone before verify writes its first line (what
    // `verify | head -1` does to a longer report): the write fails with a
    // broken pipe, which must not be a panic.
    let mut child = shipready_piped(run.path()).arg("verify").spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Like other command-line tools, shipready ends on SIGPIPE when its
    // reader is gone (no panic, no message); where the write fails first,
    // the exit code still reports the failed check.
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.signal() == Some(libc_sigpipe()) || out.status.code() == Some(1),
        "{:?}: {stderr}",
        out.status
    );
}

#[test]
fn a_failing_redis_conf_shows_redis_own_error() {
    require_tool("redis-server");
    require_tool("redis-cli");
    let run = init_preset("ringcentral-hold-hunter");
    let conf = run.read("deploy/redis/redis.conf") + "maxmemory-policy sometimes\n";
    std::fs::write(run.path().join("deploy/redis/redis.conf"), conf).unwrap();
    let gone = keep_only(&run, &["deploy/redis/redis.conf"]);
    let out = Run::in_dir(run.dir).args(["verify"]).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("FAIL  redis-server     deploy/redis/redis.conf"),
        "{}",
        out.stdout
    );
    // Redis's own words, from its stderr: what is wrong and on which line.
    for needle in [
        "FATAL CONFIG FILE ERROR",
        ">>> 'maxmemory-policy sometimes'",
        "must be one of the following",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no {needle:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains(&format!(
            "1 checks of 1 generated files ({gone} missing, not checked)"
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn a_crashing_validator_fails_with_its_output() {
    let run = bad_dockerfile_only();
    // A hadolint that dies of a signal after printing: a crash is never a
    // pass, and what it printed is shown.
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("hadolint");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'hadolint: internal error' >&2\nkill -SEGV $$\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Run::in_dir(run.dir)
        .args(["verify"])
        .env("PATH", &path)
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    for needle in [
        "FAIL  hadolint",
        "hadolint was killed by signal 11:",
        "hadolint: internal error",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no {needle:?} in\n{}",
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
    break_dockerfile(&run);
    // Only the broken files and the linters' configs: the rest of this tree
    // passes every validator in every_preset_passes_verify_strict already.
    keep_only(
        &run,
        &[
            "compose.prod.yaml",
            "Dockerfile",
            ".hadolint.yaml",
            ".yamllint.yaml",
        ],
    );
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
    let expected = expected_checks(run.path());
    // An empty PATH: every validator is missing. Only --strict fails on it.
    let lenient = Run::in_dir(run.dir).args(["verify"]).env("PATH", "");
    let out = lenient.run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("verify: 0 passed, 0 failed, {expected} skipped")),
        "{}",
        out.stdout
    );
    let out = Run::in_dir(lenient.dir)
        .args(["verify", "--strict"])
        .env("PATH", "")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let failed = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("FAIL") && l.contains("not found on PATH"))
        .count();
    assert_eq!(failed, expected, "{}", out.stdout);
    let no_lock = Run::in_dir(tempfile::tempdir().unwrap())
        .args(["verify"])
        .run();
    assert_eq!(
        no_lock.code, 2,
        "no lock: an input error\n{}",
        no_lock.stderr
    );
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
