//! Validators for the container and compose files.

use std::path::Path;

use super::output::command;
use super::{files_where, run_command, Outcome, Validator};

pub const HADOLINT: Validator = Validator {
    name: "hadolint",
    tools: &["hadolint"],
    targets: |paths| files_where(paths, |p| p == "Dockerfile" || p.ends_with("/Dockerfile")),
    run: |root, target| {
        // The generated .hadolint.yaml turns on DL3057 (HEALTHCHECK) and
        // sets the threshold; pass it explicitly so the result does not
        // depend on the working directory.
        let mut cmd = command("hadolint");
        cmd.current_dir(root)
            .args(["--failure-threshold", "warning"]);
        if root.join(".hadolint.yaml").exists() {
            cmd.args(["--config", ".hadolint.yaml"]);
        }
        run_command(cmd.arg(target))
    },
};

pub const COMPOSE: Validator = Validator {
    name: "docker-compose",
    tools: &["docker-compose"],
    targets: |paths| {
        files_where(paths, |p| {
            p == "compose.yaml" || p == "compose.prod.yaml" || p.ends_with(".overlay.yaml")
        })
    },
    run: |root, target| compose_config(root, target),
};

/// compose-lint (a security linter for Compose files) over the production
/// file, failing on any finding at or above high. Only compose.prod.yaml:
/// compose.yaml is the development stack, which trades hardening for
/// convenience on a laptop. monitoring/cadvisor.overlay.yaml is left out on
/// purpose: cAdvisor needs the Docker socket and host paths, so compose-lint
/// rates it critical (CL-0001) and high (CL-0013) by design; the overlay is
/// an opt-in whose header says so, and silencing those rules instead would
/// also silence them for a socket mount that crept into compose.prod.yaml.
pub const COMPOSE_LINT: Validator = Validator {
    name: "compose-lint",
    tools: &["compose-lint"],
    targets: |paths| files_where(paths, |p| p == "compose.prod.yaml"),
    run: |root, target| {
        // In the project itself: compose-lint reads the `.env` beside the
        // file as Compose would, and honours a committed .compose-lint.yml
        // (strictly, so a typo in it cannot disable a rule unnoticed). It
        // reads only local files.
        let mut cmd = command("compose-lint");
        cmd.current_dir(root).env_remove("COMPOSE_FILE").args([
            "check",
            "--fail-on",
            "high",
            "--strict-config",
            "--quiet",
        ]);
        run_command(cmd.arg(target))
    },
};

pub const YAMLLINT: Validator = Validator {
    name: "yamllint",
    tools: &["yamllint"],
    targets: |paths| files_where(paths, |p| p.ends_with(".yml") || p.ends_with(".yaml")),
    run: |root, target| {
        let mut cmd = command("yamllint");
        cmd.current_dir(root)
            .args(["--strict", "--format", "parsable"]);
        if root.join(".yamllint.yaml").exists() {
            cmd.args(["-c", ".yamllint.yaml"]);
        }
        run_command(cmd.arg(target))
    },
};

/// `docker-compose config -q` in a scratch copy: compose resolves `secrets:`
/// and `env_file:` paths, which a fresh checkout does not have yet (they hold
/// the team's secrets), so empty placeholders are made beside a copy.
fn compose_config(root: &Path, target: &str) -> Outcome {
    // An overlay (e.g. monitoring/cadvisor.overlay.yaml) only makes sense
    // laid over the production file, so it is checked that way.
    let files: Vec<&str> = if target.ends_with(".overlay.yaml") {
        vec!["compose.prod.yaml", target]
    } else {
        vec![target]
    };
    let Ok(scratch) = tempfile::tempdir() else {
        return Outcome::Fail("could not make a temp dir".into());
    };
    let mut cmd = command("docker-compose");
    cmd.current_dir(scratch.path()).env_remove("COMPOSE_FILE");
    for file in &files {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            return Outcome::Fail(format!("cannot read {file}"));
        };
        let copy = scratch.path().join(file);
        if let Some(parent) = copy.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::write(&copy, &text) {
            return Outcome::Fail(e.to_string());
        }
        for rel in referenced_local_files(&text) {
            let p = scratch.path().join(&rel);
            if let Some(parent) = p.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if !p.exists() {
                let _ = std::fs::write(&p, "");
            }
        }
        cmd.args(["-f", file]);
    }
    run_command(cmd.args(["config", "-q"]))
}

/// `file: ./x` and `env_file` entries pointing at files in the project.
fn referenced_local_files(compose: &str) -> Vec<String> {
    compose
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            let v = l
                .strip_prefix("file:")
                .or_else(|| l.strip_prefix("env_file:"))
                .or_else(|| l.strip_prefix("path:"))?;
            let v = v.trim().trim_matches('"');
            v.starts_with("./")
                .then(|| v.trim_start_matches("./").to_string())
        })
        .collect()
}
