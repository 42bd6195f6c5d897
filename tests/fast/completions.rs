//! `shipready completions bash|zsh|fish|man`, generated from the clap
//! definitions: each names every subcommand, bash accepts its script, and
//! the man page is roff.

use crate::common;

use common::Run;

const SUBCOMMANDS: &[&str] = &[
    "init",
    "diff",
    "update",
    "presets",
    "verify",
    "audit",
    "completions",
];

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Run::new().args(["completions", shell]).expect(0);
        assert!(
            out.stdout.len() > 500,
            "{shell}: {} bytes",
            out.stdout.len()
        );
        for sub in SUBCOMMANDS {
            assert!(out.stdout.contains(sub), "{shell} completion lacks {sub}");
        }
        // Options of a subcommand too, not only the names.
        assert!(
            out.stdout.contains("min-score"),
            "{shell} lacks audit's --min-score"
        );
    }
}

#[test]
fn bash_accepts_the_bash_script_and_it_completes() {
    let bash = common::require_tool("bash");
    let out = Run::new().args(["completions", "bash"]).expect(0);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("shipready.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let syntax = std::process::Command::new(&bash)
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Source it and ask for completions of `shipready au`.
    let probe = format!(
        "source {}; COMP_WORDS=(shipready au); COMP_CWORD=1; COMP_LINE='shipready au'; COMP_POINT=12; _shipready shipready au shipready; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let run = std::process::Command::new(&bash)
        .arg("-c")
        .arg(probe)
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&run.stdout);
    assert!(
        words.lines().any(|w| w == "audit"),
        "completing 'au' gave {words:?} {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn zsh_and_fish_scripts_have_their_shells_shape() {
    let zsh = Run::new().args(["completions", "zsh"]).expect(0).stdout;
    assert!(
        zsh.starts_with("#compdef shipready"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    let fish = Run::new().args(["completions", "fish"]).expect(0).stdout;
    assert!(
        fish.lines().any(|l| l.starts_with("complete -c shipready")),
        "fish script"
    );
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let out = Run::new().args(["completions", "man"]).expect(0);
    let man = &out.stdout;
    assert!(
        man.lines().any(|l| l.starts_with(".TH shipready")),
        "no .TH header:\n{}",
        &man[..200.min(man.len())]
    );
    assert!(
        man.contains(".SH NAME") && man.contains(".SH SYNOPSIS"),
        "sections missing"
    );
    for sub in SUBCOMMANDS {
        assert!(man.contains(sub), "man page lacks {sub}");
    }
    assert!(
        man.contains("Exit codes"),
        "the documented exit codes are in the page"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Run::new().args(["completions", "powershell-ish"]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn every_man_page_the_main_page_names_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    Run::new()
        .args(["completions", "man", "--out-dir", out_dir.to_str().unwrap()])
        .expect(0);
    let main = std::fs::read_to_string(out_dir.join("shipready.1")).unwrap();
    let mut named = 0;
    for sub in SUBCOMMANDS {
        let reference = format!("shipready\\-{sub}(1)");
        if main.contains(&reference) {
            named += 1;
            assert!(
                out_dir.join(format!("shipready-{sub}.1")).is_file(),
                "{reference} has no page"
            );
        }
    }
    assert_eq!(
        named,
        SUBCOMMANDS.len(),
        "the main page names every subcommand"
    );
}

#[test]
fn bash_completes_preset_names() {
    let out = Run::new().args(["completions", "bash"]).expect(0);
    for preset in common::presets() {
        assert!(out.stdout.contains(&preset), "bash does not offer {preset}");
    }
}
