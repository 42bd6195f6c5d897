//! The README is true for a newcomer: its quick start, run as written from a
//! clean clone, installs shipready and renders into an app; CI runs exactly
//! its test command; its exit codes are the binary's. And the binary speaks
//! plainly: no command panics into a closed pipe, and lists hold at 80
//! columns.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The fenced block between `<!-- NAME -->` and `<!-- /NAME -->`.
fn block(name: &str) -> String {
    let text = readme();
    let start = text
        .find(&format!("<!-- {name} -->"))
        .unwrap_or_else(|| panic!("README has no <!-- {name} --> block"));
    let end = text[start..].find(&format!("<!-- /{name} -->")).unwrap() + start;
    let inner = &text[start..end];
    let body = inner.split_once("```").unwrap().1;
    let body = body.split_once('\n').unwrap().1; // the fence's language
    body.split("```").next().unwrap().to_string()
}

#[test]
fn the_readme_lists_the_exit_codes_the_binary_uses() {
    assert_eq!(block("exit-codes"), shipready::cli::EXIT_CODES);
    let help = common::Run::new().args(["--help"]).expect(0).stdout;
    assert!(help.contains(shipready::cli::EXIT_CODES), "{help}");
}

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let command = block("test-command");
    let command = command.trim();
    assert_eq!(command, "bash scripts/test.sh");
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let last = ci.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(last.trim(), format!("exec {command}"), "{ci}");
}

/// The quick start as written, in a clean clone of this commit: line one
/// installs from the clone, line two (`cd` to your app) is the one line
/// that names a place of the reader's, and line three renders into an app.
#[test]
fn the_quick_start_works_from_a_clean_clone() {
    let lines: Vec<String> = block("quick-start")
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let [install, cd, init] = &lines[..] else {
        panic!("the quick start is three commands: {lines:?}")
    };
    assert!(cd.starts_with("cd "), "{cd}");

    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("shipready");
    let git = Command::new("git")
        .args(["clone", "-q", "--no-hardlinks"])
        .arg(root())
        .arg(&clone)
        .output()
        .unwrap();
    assert!(
        git.status.success(),
        "{}",
        String::from_utf8_lossy(&git.stderr)
    );

    // Builds land beside the suite's own, so a second run reuses them; the
    // release profile is lighter (no whole-program optimisation) only to
    // keep the suite quick. The command itself is the README's.
    let target: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("readme-quick-start");
    let bin_root = work.path().join("cargo-home");
    let out = Command::new("sh")
        .arg("-c")
        .arg(install)
        .current_dir(&clone)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_INSTALL_ROOT", &bin_root)
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{install}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An app repository, as the quick start expects to be run in.
    let app = work.path().join("your-app");
    std::fs::create_dir_all(&app).unwrap();
    common::copy_dir(&root().join("tests/fixtures/detect/twilio-voice"), &app);
    let before = std::fs::read_to_string(app.join("package.json")).unwrap();
    let path = format!(
        "{}:{}",
        bin_root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_init = |line: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(&app)
            .env("PATH", &path)
            .env("CI", "true")
            .output()
            .unwrap()
    };
    let env_example = std::fs::read_to_string(app.join(".env.example")).unwrap();
    // The app has its own .env.example: init stops, writes nothing and says
    // so; the README's next step is the same command with --force.
    let out = run_init(init);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{init}: {stderr}");
    assert!(
        stderr.contains(".env.example") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(!app.join("shipready.toml").exists(), "nothing written");
    let forced = format!("{init} --force");
    let out = run_init(&forced);
    assert!(
        out.status.success(),
        "{forced}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(app.join(".shipready/backup"))
        .unwrap()
        .map(|e| e.unwrap().path().join(".env.example"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), env_example);
    for f in [
        "Dockerfile",
        "compose.prod.yaml",
        "shipready.toml",
        "docs/RUNBOOK.md",
    ] {
        assert!(app.join(f).is_file(), "{f} written");
    }
    assert_eq!(
        std::fs::read_to_string(app.join("package.json")).unwrap(),
        before,
        "the app's own files are untouched"
    );
}

/// `shipready CMD | head -1` for every command: a closed pipe ends it
/// quietly, never with a panic (exit 101).
#[test]
fn no_command_panics_into_a_closed_pipe() {
    let run = common::init_preset("twilio-voice");
    let fixture = root().join("tests/fixtures/detect/twilio-voice");
    let fixture = fixture.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["--help"],
        &["presets"],
        &["presets", "show", "fastapi-three-tier"],
        &["completions", "bash"],
        &["completions", "man"],
        &["audit", fixture],
        &["audit", fixture, "--format", "json"],
        &["detect", fixture],
        &["diff", "--format", "json"],
        &[
            "init",
            "--preset",
            "twilio-voice",
            "--set",
            "domain=voice.example.com",
            "--dry-run",
        ],
    ];
    // Drift for diff to print.
    std::fs::write(run.path().join("compose.yaml"), "# edited\n".repeat(5000)).unwrap();
    for args in commands {
        let out = Command::new("bash")
            .arg("-c")
            .arg(r#""$@" | head -c 1 >/dev/null; exit "${PIPESTATUS[0]}""#)
            .arg("pipe")
            .arg(env!("CARGO_BIN_EXE_shipready"))
            .args(*args)
            .current_dir(run.path())
            .env("CI", "true")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code().unwrap_or(-1);
        assert!(
            !stderr.contains("panicked") && code != 101,
            "{args:?} exited {code}: {stderr}"
        );
    }
}

#[test]
fn preset_lists_hold_at_80_columns() {
    for args in [&["presets"][..], &["presets", "show", "fastapi-three-tier"]] {
        let out = common::Run::new().args(args).expect(0);
        for line in out.stdout.lines() {
            assert!(line.chars().count() <= 80, "{args:?}: {line:?}");
        }
    }
}
