//! The `init` and `presets` commands through the real binary, over temp dirs.

use crate::common;

use common::{init_preset, Run, DOMAIN};

#[test]
fn init_writes_the_tree_and_the_lock() {
    let run = init_preset("twilio-voice");
    let files = run.files();
    for expected in [
        "Dockerfile",
        "compose.yaml",
        "compose.prod.yaml",
        ".env.example",
        "shipready.toml",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} missing from {files:?}"
        );
    }
    let lock = run.read("shipready.toml");
    assert!(lock.contains("template_version"), "{lock}");
    assert!(
        lock.contains("[files.Dockerfile]") || lock.contains("[files.\"Dockerfile\"]"),
        "{lock}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(run.path().join("scripts/init-secrets.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}

#[test]
fn rerunning_init_changes_nothing_and_says_so() {
    let run = init_preset("node-dashboard");
    let before: Vec<(String, String)> = run
        .files()
        .into_iter()
        .map(|f| (f.clone(), run.read(&f)))
        .collect();
    let again = Run::in_dir(run.dir).args([
        "init",
        "--preset",
        "node-dashboard",
        "--set",
        &format!("domain={DOMAIN}"),
    ]);
    let out = again.expect(0);
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
    let after: Vec<(String, String)> = again
        .files()
        .into_iter()
        .map(|f| (f.clone(), again.read(&f)))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn output_is_byte_for_byte_deterministic() {
    let a = init_preset("fastapi-three-tier");
    let b = init_preset("fastapi-three-tier");
    assert_eq!(a.files(), b.files());
    for f in a.files() {
        assert_eq!(a.read(&f), b.read(&f), "{f} differs between two runs");
    }
}

#[test]
fn dry_run_writes_nothing() {
    let run = Run::new().args(common::init_args("prisma-voice", &["--dry-run"]));
    let out = run.expect(0);
    assert!(out.stdout.contains("Would write"), "{}", out.stdout);
    assert!(out.stdout.contains("create"), "{}", out.stdout);
    assert!(run.files().is_empty(), "{:?}", run.files());
}

/// A bad value: exit 2, the message names field, value and rule, and the
/// directory stays empty.
fn rejected<S: AsRef<str>>(args: &[S], expect_in_stderr: &[&str]) {
    let run = Run::new().args(args);
    let out = run.expect(2);
    for needle in expect_in_stderr {
        assert!(
            out.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        run.files().is_empty(),
        "files written despite the error: {:?}",
        run.files()
    );
}

#[test]
fn a_domain_that_would_inject_is_rejected() {
    rejected(
        &[
            "init",
            "--preset",
            "twilio-voice",
            "--set",
            "domain=a.com;rm -rf /",
        ],
        &["edge.domain", "a.com;rm -rf /", "DNS name"],
    );
}

#[test]
fn a_name_with_a_path_is_rejected() {
    rejected(
        &common::init_args("twilio-voice", &["--set", "name=../x"]),
        &["service.name", "../x", "lowercase letters"],
    );
}

#[test]
fn port_zero_is_rejected() {
    rejected(
        &common::init_args("twilio-voice", &["--set", "service.port=0"]),
        &["service.port", "1024 to 65535"],
    );
}

#[test]
fn newline_and_quote_injection_into_yaml_is_rejected() {
    rejected(
        &[
            "init",
            "--preset",
            "node-dashboard",
            "--set",
            "domain=voice.example.com",
            "--set",
            "voice.websocket_path=/ws\"\n  privileged: true",
        ],
        &["voice.websocket_path", "URL path"],
    );
}

#[test]
fn an_unknown_preset_is_rejected() {
    // clap knows the preset names: it lists them, and suggests a near one.
    rejected(
        &common::init_args("nope", &[]),
        &["invalid value 'nope'", "possible values", "twilio-voice"],
    );
    rejected(
        &common::init_args("twilio-vocie", &[]),
        &["a similar value exists: 'twilio-voice'"],
    );
}

#[test]
fn an_unknown_set_key_is_rejected() {
    rejected(
        &common::init_args("twilio-voice", &["--set", "edge.domian=x.com"]),
        &["unknown key 'edge.domian'"],
    );
}

#[test]
fn missing_answers_are_listed_together_without_prompting() {
    // No preset, no answers, CI set and no terminal: never a prompt.
    rejected(&["init"], &["service.name", "edge.domain", "--set"]);
}

#[test]
fn values_file_sits_between_preset_and_set() {
    let run = Run::new();
    std::fs::write(
        run.path().join("answers.toml"),
        "[service]\nname = \"from-values\"\nport = 4000\n[edge]\ndomain = \"values.example.com\"\n",
    )
    .unwrap();
    let run = Run::in_dir(run.dir).args([
        "init",
        "--preset",
        "twilio-voice",
        "--values",
        "answers.toml",
        "--set",
        "service.port=5000",
        "--dir",
        "out",
    ]);
    run.expect(0);
    let env = run.read("out/.env.example");
    assert!(env.contains("PORT=5000"), "--set wins over --values");
    assert!(
        env.contains("https://values.example.com"),
        "--values wins over the preset"
    );
    assert!(run
        .read("out/compose.yaml")
        .contains("name: from-values-dev"));
}

#[test]
fn init_refuses_to_overwrite_an_edited_file_and_writes_nothing() {
    let run = Run::new();
    std::fs::write(run.path().join("Dockerfile"), "FROM scratch\n# ours\n").unwrap();
    let run = Run::in_dir(run.dir).args(common::init_args("twilio-voice", &[]));
    let out = run.expect(1);
    assert!(
        out.stderr.contains("Dockerfile") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(
        run.files(),
        vec!["Dockerfile".to_string()],
        "nothing else written"
    );
    assert_eq!(run.read("Dockerfile"), "FROM scratch\n# ours\n");

    let forced = Run::in_dir(run.dir).args(common::init_args("twilio-voice", &["--force"]));
    forced.expect(0);
    assert!(forced.read("Dockerfile").contains("USER 10001:10001"));
}

#[test]
fn a_file_identical_to_the_render_is_adopted_not_a_conflict() {
    let first = init_preset("prisma-voice");
    let dockerfile = first.read("Dockerfile");
    let run = Run::new();
    std::fs::write(run.path().join("Dockerfile"), &dockerfile).unwrap();
    let run = Run::in_dir(run.dir).args(common::init_args("prisma-voice", &[]));
    let out = run.expect(0);
    assert!(
        out.stdout.contains("same") && out.stdout.contains("Dockerfile"),
        "{}",
        out.stdout
    );
}

#[cfg(unix)]
#[test]
fn init_never_writes_through_a_symlink_out_of_the_directory() {
    let outside = tempfile::tempdir().unwrap();
    let run = Run::new();
    std::os::unix::fs::symlink(outside.path(), run.path().join("scripts")).unwrap();
    let run = Run::in_dir(run.dir).args(common::init_args("twilio-voice", &[]));
    let out = run.expect(2);
    assert!(
        out.stderr.contains("symbolic link") && out.stderr.contains("scripts"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert!(
        !run.path().join("Dockerfile").exists(),
        "nothing written inside either: the plan failed first"
    );
}

#[test]
fn presets_lists_every_preset_and_shows_one() {
    let out = Run::new().args(["presets"]).expect(0);
    for name in common::presets() {
        assert!(out.stdout.contains(&name), "{name} not listed");
    }
    let show = Run::new()
        .args(["presets", "show", "ringcentral-hold-hunter"])
        .expect(0);
    assert!(
        show.stdout.contains("provider = \"ringcentral\""),
        "{}",
        show.stdout
    );
    Run::new().args(["presets", "show", "nope"]).expect(2);
}

#[test]
fn help_documents_exit_codes() {
    let out = Run::new().args(["--help"]).expect(0);
    assert!(out.stdout.contains("Exit codes"), "{}", out.stdout);
    let out = Run::new().args(["init", "--help"]).expect(0);
    assert!(
        out.stdout.contains("--dry-run") && out.stdout.contains("--set"),
        "{}",
        out.stdout
    );
}

#[test]
fn no_colour_when_not_a_terminal() {
    let run = Run::new()
        .args(common::init_args("twilio-voice", &[]))
        .env("NO_COLOR", "");
    let out = run.expect(0);
    assert!(
        !out.stdout.contains('\u{1b}'),
        "escape codes in piped output"
    );
}
