//! Drift scenarios: `shipready diff` and `shipready update` over real temp
//! dirs, for every preset.
//!
//! Nothing here names a generated file: each scenario picks files from the
//! lock (in its order) and finds the template that renders them, so the
//! tests keep holding as the catalog grows. A template upgrade is simulated
//! with a `--templates` overlay: the embedded template plus one appended
//! line, under a higher VERSION. Expected contents are computed with the
//! library's own renderer over the same overlay, never written by hand.

use crate::common;

use common::{init_preset, presets, require_tool, Output, Run};
use serde_json::Value;
use shipready::answers::resolve_from_lock;
use shipready::cli::AnswerArgs;
use shipready::core::lock::Lock;
use shipready::core::render::{render, RenderedTree};
use shipready::core::templates::Templates;
use shipready::profile::Profile;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const UPGRADE_LINE: &str = "# drift test: a line added by a newer template set";
const LOCAL_TOP: &str = "# drift test: a local edit at the top";
const LOCAL_TAIL: &str = "# drift test: a local edit at the end";

// ---------------------------------------------------------------- helpers

/// Run shipready with `args` in the run's dir; returns the run back.
fn sr(run: Run, args: &[&str]) -> (Run, Output, i32) {
    let run = run.args(args);
    let out = run.run();
    let code = out.code;
    (run, out, code)
}

/// Run and assert the exit code.
fn sr_expect(run: Run, args: &[&str], code: i32) -> (Run, Output) {
    let run = run.args(args);
    let out = run.expect(code);
    (run, out)
}

/// The last render the lock keeps for `path`.
fn base(run: &Run, lock: &Lock, path: &str) -> String {
    lock.base(run.path(), path).unwrap().expect("a kept base")
}

fn lock(run: &Run) -> Lock {
    Lock::read(run.path()).unwrap().expect("a lock after init")
}

fn render_with(profile: &Profile, templates: &Templates) -> RenderedTree {
    render(profile, templates).expect("renders")
}

fn embedded_version() -> String {
    Templates::embedded().version().to_string()
}

/// The embedded version with its last number raised by one.
fn bumped(v: &str) -> String {
    let mut parts: Vec<String> = v.split('.').map(str::to_string).collect();
    let last = parts.last_mut().unwrap();
    *last = (last.parse::<u64>().expect("numeric version") + 1).to_string();
    parts.join(".")
}

/// Every file's contents under the run's dir (lock included).
fn snapshot(run: &Run) -> BTreeMap<String, Vec<u8>> {
    run.files()
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(run.path().join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

fn write(run: &Run, rel: &str, text: &str) {
    std::fs::write(run.path().join(rel), text).unwrap();
}

/// A template upgrade: an overlay dir with changed templates and a higher VERSION.
struct Overlay {
    dir: TempDir,
    version: String,
}

impl Overlay {
    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }
    fn templates(&self) -> Templates {
        Templates::with_overlay(self.dir.path()).unwrap()
    }
}

/// Overlay that appends `UPGRADE_LINE` to each of `templates`.
fn upgrade(templates: &[&str]) -> Overlay {
    let dir = tempfile::tempdir().unwrap();
    let embedded = Templates::embedded();
    for name in templates {
        let src = embedded
            .get(name)
            .unwrap_or_else(|| panic!("{name} is embedded"));
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let sep = if src.ends_with('\n') { "" } else { "\n" };
        std::fs::write(&path, format!("{src}{sep}{UPGRADE_LINE}\n")).unwrap();
    }
    let version = bumped(&embedded_version());
    std::fs::write(dir.path().join("VERSION"), format!("{version}\n")).unwrap();
    Overlay { dir, version }
}

/// A file of the tree that a template upgrade can change alone: its
/// template renders only it, it has at least `min_lines` lines, and
/// appending a line to the template appends exactly that line to the file.
/// Candidates are taken in the lock's order; `skip` are passed over.
struct Target {
    path: String,
    template: String,
    old: String,
    new: String,
    overlay: Overlay,
}

fn pick_targets(run: &Run, n: usize, min_lines: usize) -> Vec<Target> {
    let lock = lock(run);
    let tree = render_with(&lock.profile, &Templates::embedded());
    let mut per_template: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &tree.files {
        *per_template.entry(f.template.as_str()).or_default() += 1;
    }
    let mut out = Vec::new();
    for path in lock.files.keys() {
        if out.len() == n {
            break;
        }
        let Some(f) = tree.get(path) else { continue };
        if per_template[f.template.as_str()] != 1 || f.contents.lines().count() < min_lines {
            continue;
        }
        let overlay = upgrade(&[&f.template]);
        let new_tree = render_with(&lock.profile, &overlay.templates());
        let new = new_tree.get(path).unwrap().contents.clone();
        if new != format!("{}{UPGRADE_LINE}\n", f.contents) {
            continue;
        }
        // Nothing else may change with it.
        let others_same = tree
            .files
            .iter()
            .filter(|o| o.path != *path)
            .all(|o| new_tree.get(&o.path).map(|x| &x.contents) == Some(&o.contents));
        if !others_same {
            continue;
        }
        out.push(Target {
            path: path.clone(),
            template: f.template.clone(),
            old: f.contents.clone(),
            new,
            overlay,
        });
    }
    assert_eq!(
        out.len(),
        n,
        "the render has fewer than {n} files with at least {min_lines} lines that a template upgrade can change alone"
    );
    out
}

fn pick_target(run: &Run, min_lines: usize) -> Target {
    pick_targets(run, 1, min_lines).pop().unwrap()
}

/// Parse the text report's state lines, `state  path  +A -R  (note)`: the
/// block before the first blank line (the patches follow it).
fn text_states(stdout: &str) -> BTreeMap<String, String> {
    const STATES: [&str; 7] = [
        "unchanged",
        "outdated",
        "modified",
        "conflicting",
        "missing",
        "new",
        "orphaned",
    ];
    let mut out = BTreeMap::new();
    for line in stdout.lines().take_while(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [state, path, added, removed, ..] = words[..] else {
            continue;
        };
        if STATES.contains(&state) && added.starts_with('+') && removed.starts_with('-') {
            assert!(
                out.insert(path.to_string(), state.to_string()).is_none(),
                "{path} listed twice:\n{stdout}"
            );
        }
    }
    out
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("diff --format json: {e}\n{stdout}"))
}

/// path → state for every file of a JSON report.
fn json_states(v: &Value) -> BTreeMap<String, String> {
    v["files"]
        .as_array()
        .expect("files array")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Only the files that differ.
fn drifted(states: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    states
        .iter()
        .filter(|(_, s)| *s != "unchanged")
        .map(|(p, s)| (p.clone(), s.clone()))
        .collect()
}

fn one(path: &str, state: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(path.to_string(), state.to_string())])
}

/// Assert every rendered file on disk equals `tree` (LF-normalised).
fn assert_disk_is(run: &Run, tree: &RenderedTree, except: &[&str]) {
    for f in &tree.files {
        if except.contains(&f.path.as_str()) {
            continue;
        }
        assert_eq!(
            run.read(&f.path).replace("\r\n", "\n"),
            f.contents,
            "{} differs from the render",
            f.path
        );
    }
}

// -------------------------------------------------------------- scenarios

#[test]
fn clean_tree_has_no_drift_and_update_changes_nothing() {
    for preset in presets() {
        let run = init_preset(&preset);
        let files = lock(&run).files.len();
        assert!(files > 0, "{preset}: init rendered nothing");
        let (run, out) = sr_expect(run, &["diff"], 0);
        assert!(out.stdout.contains("No drift"), "{preset}: {}", out.stdout);
        assert!(
            text_states(&out.stdout).is_empty(),
            "{preset}: {}",
            out.stdout
        );
        let (run, out) = sr_expect(run, &["diff", "--format", "json"], 0);
        let v = json(&out.stdout);
        assert_eq!(v["clean"], true);
        let states = json_states(&v);
        assert_eq!(states.len(), files, "{preset}: every file has a state");
        assert!(drifted(&states).is_empty(), "{preset}: {states:?}");
        assert_eq!(v["counts"]["unchanged"], files);

        let before = snapshot(&run);
        let (run, out) = sr_expect(run, &["update"], 0);
        assert!(
            out.stdout.contains("Up to date"),
            "{preset}: {}",
            out.stdout
        );
        assert_eq!(before, snapshot(&run), "{preset}: a no-op update wrote");
    }
}

#[test]
fn edited_file_is_modified_shown_as_a_patch_that_git_applies() {
    let git = require_tool("git");
    for preset in presets() {
        let run = init_preset(&preset);
        let t = pick_target(&run, 3);
        write(&run, &t.path, &format!("{}{LOCAL_TAIL}\n", t.old));
        let (run, out) = sr_expect(run, &["diff"], 1);
        assert_eq!(
            text_states(&out.stdout),
            one(&t.path, "modified"),
            "{preset}:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!(
                "diff --git a/{0} b/{0}\n--- a/{0}\n+++ b/{0}\n",
                t.path
            )),
            "{preset}: git headers:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.lines().any(|l| l == format!("+{LOCAL_TAIL}")),
            "{preset}: the local line reads + as in git diff:\n{}",
            out.stdout
        );
        assert!(!out.stdout.contains('\x1b'), "no colour without a terminal");

        // The plain output is a patch `git apply -R` takes (the advice the
        // summary gives), and applying it brings the disk back to the render.
        let patch = run.path().join("drift.patch");
        std::fs::write(&patch, &out.stdout).unwrap();
        let st = std::process::Command::new(&git)
            .args(["apply", "-R", "--verbose", "drift.patch"])
            .current_dir(run.path())
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{preset}: git apply: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        std::fs::remove_file(&patch).unwrap();
        assert_eq!(run.read(&t.path), t.old);
        let (_run, _) = sr_expect(run, &["diff"], 0);
    }
}

#[test]
fn template_upgrade_of_an_untouched_file_is_outdated_and_update_replaces_it() {
    for preset in presets() {
        let run = init_preset(&preset);
        let t = pick_target(&run, 1);
        let ov = t.overlay.path();
        let (run, out) = sr_expect(run, &["diff", "--templates", &ov], 1);
        assert_eq!(
            text_states(&out.stdout),
            one(&t.path, "outdated"),
            "{preset}:\n{}",
            out.stdout
        );
        assert!(out.stdout.lines().any(|l| l == format!("-{UPGRADE_LINE}")));
        // Without the overlay nothing changed.
        let (run, _) = sr_expect(run, &["diff"], 0);

        let (run, out) = sr_expect(run, &["update", "--templates", &ov], 0);
        assert!(
            out.stdout.contains(&t.path),
            "{preset}: update lists the file:\n{}",
            out.stdout
        );
        assert_eq!(run.read(&t.path), t.new, "{preset}: replaced");
        let l = lock(&run);
        assert_eq!(l.template_version, t.overlay.version);
        assert_eq!(base(&run, &l, &t.path), t.new, "{preset}: the lock's base");
        let (run, _) = sr_expect(run, &["diff", "--templates", &ov], 0);
        // The lock now needs the newer templates: the embedded ones are
        // refused with the version named.
        let (_run, out) = sr_expect(run, &["diff"], 2);
        assert!(
            out.stderr.contains(&t.overlay.version) && out.stderr.contains("--templates"),
            "{preset}: {}",
            out.stderr
        );
        let _ = &t.template;
    }
}

#[test]
fn template_upgrade_and_a_non_overlapping_local_edit_are_both_kept() {
    for preset in presets() {
        let run = init_preset(&preset);
        let t = pick_target(&run, 4);
        let ov = t.overlay.path();
        let edited = format!("{LOCAL_TOP}\n{}", t.old);
        write(&run, &t.path, &edited);
        let (run, out) = sr_expect(run, &["diff", "--templates", &ov], 1);
        assert_eq!(text_states(&out.stdout), one(&t.path, "conflicting"));

        let (run, out) = sr_expect(run, &["update", "--templates", &ov], 0);
        assert!(out.stdout.contains("merged"), "{preset}: {}", out.stdout);
        assert_eq!(
            run.read(&t.path),
            format!("{LOCAL_TOP}\n{}", t.new),
            "{preset}: both edits"
        );
        let l = lock(&run);
        assert_eq!(
            base(&run, &l, &t.path),
            t.new,
            "{preset}: base is the new render"
        );
        // It keeps showing as a local edit, against the new render.
        let (run, out) = sr_expect(run, &["diff", "--templates", &ov, "--stat"], 1);
        assert_eq!(text_states(&out.stdout), one(&t.path, "modified"));
        // And a second update has nothing to do.
        let before = snapshot(&run);
        let (run, _) = sr_expect(run, &["update", "--templates", &ov], 0);
        assert_eq!(before, snapshot(&run));
    }
}

#[test]
fn overlapping_edits_leave_labelled_markers_exit_1_and_lose_nothing() {
    for preset in presets() {
        let run = init_preset(&preset);
        let ts = pick_targets(&run, 2, 3);
        let (t, other) = (&ts[0], &ts[1]);
        // One overlay upgrading both templates.
        let ov = upgrade(&[&t.template, &other.template]);
        let ovp = ov.path();
        write(&run, &t.path, &format!("{}{LOCAL_TAIL}\n", t.old));
        // Another file edited where the template did not change.
        let unrelated = lock(&run)
            .files
            .keys()
            .find(|p| **p != t.path && **p != other.path)
            .cloned()
            .expect("a third file");
        let unrelated_text = format!("{LOCAL_TOP}\n{}", run.read(&unrelated));
        write(&run, &unrelated, &unrelated_text);

        let (run, out) = sr_expect(run, &["update", "--templates", &ovp], 1);
        let expected = format!(
            "{}<<<<<<< local (your edits)\n{LOCAL_TAIL}\n=======\n{UPGRADE_LINE}\n>>>>>>> template {}\n",
            t.old, ov.version
        );
        assert_eq!(run.read(&t.path), expected, "{preset}: markers");
        assert!(
            out.stdout.contains("Conflicts remain")
                && out.stdout.contains(&format!("  - {}", t.path)),
            "{preset}: conflicts listed:\n{}",
            out.stdout
        );
        // Nothing else lost: the other upgraded file is replaced, the
        // unrelated edit is kept, every other file is the new render.
        let new_tree = render_with(&lock(&run).profile, &ov.templates());
        assert_eq!(run.read(&other.path), other.new);
        assert_eq!(run.read(&unrelated), unrelated_text);
        assert_disk_is(&run, &new_tree, &[&t.path, &unrelated]);

        // diff calls the file conflicting while the markers stay; update
        // keeps exiting 1 and does not touch it.
        let (run, out) = sr_expect(run, &["diff", "--templates", &ovp, "--stat"], 1);
        let states = text_states(&out.stdout);
        assert_eq!(states.get(&t.path).map(String::as_str), Some("conflicting"));
        let before = snapshot(&run);
        let (run, _) = sr_expect(run, &["update", "--templates", &ovp], 1);
        assert_eq!(
            before,
            snapshot(&run),
            "{preset}: unresolved file left alone"
        );

        // Resolve by keeping both lines: now a plain local edit.
        write(
            &run,
            &t.path,
            &format!("{}{LOCAL_TAIL}\n{UPGRADE_LINE}\n", t.old),
        );
        let (run, out) = sr_expect(run, &["diff", "--templates", &ovp, "--stat"], 1);
        assert_eq!(
            text_states(&out.stdout).get(&t.path).map(String::as_str),
            Some("modified")
        );
        let (_run, _) = sr_expect(run, &["update", "--templates", &ovp], 0);
    }
}

#[test]
fn deleted_file_is_missing_and_update_restores_it() {
    for preset in presets() {
        let run = init_preset(&preset);
        let t = pick_target(&run, 1);
        std::fs::remove_file(run.path().join(&t.path)).unwrap();
        let (run, out) = sr_expect(run, &["diff"], 1);
        assert_eq!(text_states(&out.stdout), one(&t.path, "missing"));
        assert!(
            out.stdout
                .contains(&format!("--- a/{}\n+++ /dev/null\n", t.path)),
            "{preset}: {}",
            out.stdout
        );
        let (run, _) = sr_expect(run, &["update", "--dry-run"], 0);
        assert!(!run.path().join(&t.path).exists(), "dry run wrote");
        let (run, _) = sr_expect(run, &["update"], 0);
        assert_eq!(run.read(&t.path), t.old);
        let (_run, _) = sr_expect(run, &["diff"], 0);
    }
}

#[test]
fn files_the_lock_does_not_know_are_new_or_conflicting_never_ignored() {
    for preset in presets() {
        let run = init_preset(&preset);
        let ts = pick_targets(&run, 2, 1);
        let (a, b) = (&ts[0], &ts[1]);
        // As if an older template set had rendered neither file: drop them
        // from the lock; delete one, edit the other.
        let mut l = lock(&run);
        l.files.remove(&a.path);
        l.files.remove(&b.path);
        write(&run, "shipready.toml", &l.to_text());
        std::fs::remove_file(run.path().join(&a.path)).unwrap();
        let theirs = format!("{LOCAL_TOP}\n");
        write(&run, &b.path, &theirs);

        let (run, out) = sr_expect(run, &["diff", "--stat"], 1);
        let states = text_states(&out.stdout);
        assert_eq!(
            states,
            BTreeMap::from([
                (a.path.clone(), "new".to_string()),
                (b.path.clone(), "conflicting".to_string())
            ]),
            "{preset}:\n{}",
            out.stdout
        );
        let (run, out) = sr_expect(run, &["update"], 0);
        assert!(out.stdout.contains("adopt"), "{}", out.stdout);
        assert_eq!(run.read(&a.path), a.old, "{preset}: created");
        assert_eq!(
            run.read(&b.path),
            theirs,
            "{preset}: the team's file is kept"
        );
        let l = lock(&run);
        assert_eq!(base(&run, &l, &a.path), a.old);
        assert_eq!(base(&run, &l, &b.path), b.old);
        let (_run, out) = sr_expect(run, &["diff", "--stat"], 1);
        assert_eq!(text_states(&out.stdout), one(&b.path, "modified"));
    }
}

#[test]
fn orphaned_files_are_removed_only_when_untouched() {
    for preset in presets() {
        let run = init_preset(&preset);
        // As if the templates stopped rendering three files: the lock knows
        // them, the render does not. They must be paths the catalog can
        // produce (a lock naming any other path is refused).
        let mut l = lock(&run);
        let unrendered: Vec<&str> = shipready::core::catalog::CATALOG
            .iter()
            .map(|e| e.dest)
            .filter(|d| !d.contains("{env}") && !l.files.contains_key(*d))
            .filter(|d| !run.path().join(d).exists())
            .take(3)
            .collect();
        let [untouched, edited, deleted] = unrendered[..] else {
            panic!("{preset}: fewer than three catalog paths it does not render")
        };
        let text = "kept by the lock\nonly\n";
        for p in [untouched, edited, deleted] {
            l.files.insert(
                p.into(),
                shipready::core::lock::LockedFile::new(text, 0o644),
            );
        }
        write(&run, "shipready.toml", &l.to_text());
        for p in [untouched, edited] {
            std::fs::create_dir_all(run.path().join(p).parent().unwrap()).unwrap();
        }
        write(&run, untouched, text);
        write(&run, edited, &format!("{text}mine\n"));

        let (run, out) = sr_expect(run, &["diff", "--stat"], 1);
        let states = text_states(&out.stdout);
        for p in [untouched, edited, deleted] {
            assert_eq!(states.get(p).map(String::as_str), Some("orphaned"), "{p}");
        }
        let (run, out) = sr_expect(run, &["update"], 0);
        assert!(!run.path().join(untouched).exists());
        assert_eq!(run.read(edited), format!("{text}mine\n"));
        assert!(out.stdout.contains(edited), "kept and reported");
        let l = lock(&run);
        assert!([untouched, edited, deleted]
            .iter()
            .all(|p| !l.files.contains_key(*p)));
        let (_run, _) = sr_expect(run, &["diff"], 0);
    }
}

/// `--set` answers that may change what a profile renders.
const TOGGLES: &[&str] = &[
    "monitoring.enabled",
    "postgres.enabled",
    "redis.enabled",
    "worker.enabled",
];

fn with_sets(profile: &Profile, sets: &[String]) -> Option<Profile> {
    resolve_from_lock(
        profile,
        &AnswerArgs {
            set: sets.to_vec(),
            values: None,
        },
    )
    .ok()
}

#[test]
fn profile_change_with_set_brings_in_and_takes_out_files() {
    let templates = Templates::embedded();
    for preset in presets() {
        let run = init_preset(&preset);
        let start = lock(&run);
        let start_tree = render_with(&start.profile, &templates);
        let start_paths: BTreeSet<String> =
            start_tree.files.iter().map(|f| f.path.clone()).collect();

        // Every toggle that is a valid profile change and alters the render.
        let mut changes = Vec::new();
        for key in TOGGLES {
            let current = toml::Value::try_from(&start.profile).unwrap();
            let (section, field) = key.split_once('.').unwrap();
            let on = current[section][field].as_bool().unwrap();
            let set = format!("{key}={}", !on);
            if let Some(p) = with_sets(&start.profile, std::slice::from_ref(&set)) {
                let tree = render_with(&p, &templates);
                if tree
                    .files
                    .iter()
                    .map(|f| (&f.path, &f.contents))
                    .ne(start_tree.files.iter().map(|f| (&f.path, &f.contents)))
                {
                    changes.push((set, format!("{key}={on}"), tree));
                }
            }
        }
        // The service port shows in the rendered files: another profile
        // change that always alters the render.
        let port = start.profile.service.port;
        let (set, p) = [8081u16, 8090, 3001, 5001]
            .iter()
            .filter(|p| **p != port)
            .map(|p| format!("service.port={p}"))
            .find_map(|set| with_sets(&start.profile, std::slice::from_ref(&set)).map(|p| (set, p)))
            .expect("some other port is valid");
        let tree = render_with(&p, &templates);
        assert_ne!(
            tree.files, start_tree.files,
            "{preset}: the port shows in no file"
        );
        changes.push((set, format!("service.port={port}"), tree));

        let mut run = run;
        for (set, back, tree) in &changes {
            let paths: BTreeSet<String> = tree.files.iter().map(|f| f.path.clone()).collect();
            let (r, out) = sr_expect(run, &["update", "--set", set], 0);
            run = r;
            assert_disk_is(&run, tree, &[]);
            for added in paths.difference(&start_paths) {
                assert!(
                    out.stdout.contains(added),
                    "{preset} {set}: {added} created and listed"
                );
            }
            for gone in start_paths.difference(&paths) {
                assert!(
                    !run.path().join(gone).exists(),
                    "{preset} {set}: untouched {gone} removed"
                );
            }
            let l = lock(&run);
            assert_eq!(
                l.files.keys().cloned().collect::<BTreeSet<_>>(),
                paths,
                "{preset} {set}: the lock lists what is rendered"
            );
            let (r, _) = sr_expect(run, &["diff"], 0);
            // And back again: the files come back.
            let (r, _) = sr_expect(r, &["update", "--set", back], 0);
            run = r;
            assert_disk_is(&run, &start_tree, &[]);
            assert_eq!(lock(&run).profile, start.profile);
        }
    }
}

#[test]
fn crlf_checkout_is_unchanged_and_stays_crlf_through_update() {
    for preset in presets() {
        let run = init_preset(&preset);
        let t = pick_target(&run, 4);
        let ov = t.overlay.path();
        let crlf = |s: &str| s.replace('\n', "\r\n");
        write(&run, &t.path, &crlf(&t.old));
        let (run, _) = sr_expect(run, &["diff"], 0);

        // Outdated CRLF file: replaced, still CRLF.
        let (run, _) = sr_expect(run, &["diff", "--templates", &ov, "--stat"], 1);
        let (run, _) = sr_expect(run, &["update", "--templates", &ov], 0);
        assert_eq!(run.read(&t.path), crlf(&t.new), "{preset}: CRLF kept");
        let (run, _) = sr_expect(run, &["diff", "--templates", &ov], 0);

        // A CRLF file with a local edit merges and stays CRLF.
        let run2 = init_preset(&preset);
        write(&run2, &t.path, &crlf(&format!("{LOCAL_TOP}\n{}", t.old)));
        let (run2, out) = sr_expect(run2, &["diff"], 1);
        assert!(!out.stdout.contains('\r'), "patches are LF");
        let (run2, _) = sr_expect(run2, &["update", "--templates", &ov], 0);
        assert_eq!(
            run2.read(&t.path),
            crlf(&format!("{LOCAL_TOP}\n{}", t.new)),
            "{preset}"
        );
        drop(run);
    }
}

#[test]
fn json_report_parses_and_matches_the_text_report() {
    for preset in presets() {
        let run = init_preset(&preset);
        let ts = pick_targets(&run, 3, 4);
        let ov = upgrade(&[&ts[0].template, &ts[1].template]);
        let ovp = ov.path();
        // outdated: ts[0]; conflicting: ts[1]; modified: ts[2];
        // missing: the first other file.
        write(&run, &ts[1].path, &format!("{LOCAL_TOP}\n{}", ts[1].old));
        write(&run, &ts[2].path, &format!("{}{LOCAL_TAIL}\n", ts[2].old));
        let missing = lock(&run)
            .files
            .keys()
            .find(|p| ts.iter().all(|t| t.path != **p))
            .cloned()
            .unwrap();
        std::fs::remove_file(run.path().join(&missing)).unwrap();
        let expected = BTreeMap::from([
            (ts[0].path.clone(), "outdated".to_string()),
            (ts[1].path.clone(), "conflicting".to_string()),
            (ts[2].path.clone(), "modified".to_string()),
            (missing.clone(), "missing".to_string()),
        ]);

        let (run, text) = sr_expect(run, &["diff", "--templates", &ovp], 1);
        let (run, stat) = sr_expect(run, &["diff", "--templates", &ovp, "--stat"], 1);
        let (run, js) = sr_expect(run, &["diff", "--templates", &ovp, "--format", "json"], 1);
        let v = json(&js.stdout);
        let all = json_states(&v);
        assert_eq!(all.len(), lock(&run).files.len(), "{preset}: every file");
        assert_eq!(drifted(&all), expected, "{preset}");
        assert_eq!(
            text_states(&text.stdout),
            expected,
            "{preset}:\n{}",
            text.stdout
        );
        assert_eq!(text_states(&stat.stdout), expected, "{preset}");
        assert_eq!(v["clean"], false);
        assert_eq!(v["template_version"], ov.version.as_str());
        assert_eq!(v["locked_template_version"], embedded_version().as_str());
        for (state, n) in v["counts"].as_object().unwrap() {
            let want = all.values().filter(|s| *s == state).count();
            assert_eq!(n.as_u64(), Some(want as u64), "{preset}: count of {state}");
        }
        // The text report carries the same patches, and the same +/- counts.
        for f in v["files"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            if let Some(p) = f["patch"].as_str() {
                assert!(text.stdout.contains(p), "{preset}: patch of {path}");
            }
            if f["state"] != "unchanged" {
                let line = stat
                    .stdout
                    .lines()
                    .find(|l| l.split_whitespace().nth(1) == Some(path))
                    .unwrap();
                let want = format!("+{} -{}", f["added"], f["removed"]);
                assert!(line.contains(&want), "{preset}: {line} vs {want}");
            }
        }
        // PATH… limits both formats alike.
        let (run, one_path) = sr_expect(run, &["diff", "--templates", &ovp, &ts[2].path], 1);
        assert_eq!(text_states(&one_path.stdout), one(&ts[2].path, "modified"));
        let (run, _) = sr_expect(run, &["diff", "--templates", &ovp, "no/such/file"], 2);
        let (_run, one_json) = sr_expect(
            run,
            &["diff", "--templates", &ovp, "--format", "json", &missing],
            1,
        );
        assert_eq!(
            json_states(&json(&one_json.stdout)),
            one(&missing, "missing")
        );
    }
}

#[test]
fn dry_run_writes_nothing_and_reports_what_would_happen() {
    for preset in presets() {
        let run = init_preset(&preset);
        let ts = pick_targets(&run, 2, 3);
        let ov = upgrade(&[&ts[0].template, &ts[1].template]);
        let ovp = ov.path();
        write(&run, &ts[1].path, &format!("{}{LOCAL_TAIL}\n", ts[1].old));
        let before = snapshot(&run);
        let (run, out) = sr_expect(run, &["update", "--templates", &ovp, "--dry-run"], 1);
        assert_eq!(before, snapshot(&run), "{preset}: dry run wrote");
        assert!(out.stdout.contains(&ts[0].path) && out.stdout.contains(&ts[1].path));
        assert!(out.stdout.contains("would be left"), "{}", out.stdout);
    }
}

#[test]
fn a_lock_from_newer_templates_is_refused_naming_the_version() {
    for preset in presets() {
        let run = init_preset(&preset);
        let mut l = lock(&run);
        let newer = format!(
            "{}.0.0",
            embedded_version()
                .split('.')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                + 1
        );
        l.template_version = newer.clone();
        l.shipready_version = "99.0.0".into();
        write(&run, "shipready.toml", &l.to_text());
        let before = snapshot(&run);
        let (run, out) = sr_expect(run, &["diff"], 2);
        assert!(out.stderr.contains(&newer), "{}", out.stderr);
        assert!(
            out.stderr.contains("99.0.0"),
            "names the shipready to install"
        );
        let (run, out) = sr_expect(run, &["update"], 2);
        assert!(out.stderr.contains(&newer), "{}", out.stderr);
        assert_eq!(before, snapshot(&run), "nothing written");
        // An overlay at that version (or newer) is accepted.
        let ov = tempfile::tempdir().unwrap();
        std::fs::write(ov.path().join("VERSION"), &newer).unwrap();
        let ovp = ov.path().display().to_string();
        let (_run, _) = sr_expect(run, &["diff", "--templates", &ovp], 0);
    }
}

#[test]
fn errors_exit_2() {
    let run = Run::new();
    let (run, out, code) = sr(run, &["diff"]);
    assert_eq!(code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("shipready init"));
    let (_run, _out, code) = sr(run, &["update"]);
    assert_eq!(code, 2);
}

#[test]
fn colour_only_on_a_terminal() {
    let run = init_preset(&presets()[0]);
    let t = pick_target(&run, 1);
    write(&run, &t.path, "changed\n");
    let bin: PathBuf = assert_cmd::cargo::cargo_bin("shipready");
    let piped = std::process::Command::new(&bin)
        .args(["diff"])
        .current_dir(run.path())
        .env_remove("NO_COLOR")
        .env_remove("CI")
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(1));
    assert!(
        !piped.stdout.contains(&0x1b),
        "escape codes in piped output"
    );

    // On a terminal (util-linux `script` gives it one) the patch is coloured,
    // unless NO_COLOR is set.
    let script = require_tool("script");
    let on_tty = |no_color: bool| {
        let mut cmd = std::process::Command::new(&script);
        cmd.args(["-qec", &format!("{} diff", bin.display()), "/dev/null"])
            .current_dir(run.path())
            .env_remove("NO_COLOR")
            .env_remove("CI")
            .env("TERM", "xterm-256color");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(
        coloured.contains("\x1b[32m+changed"),
        "no colour on a terminal:\n{coloured}"
    );
    let plain = on_tty(true);
    assert!(!plain.contains('\x1b'), "NO_COLOR is honoured:\n{plain}");
    assert!(plain.contains("+changed"));
    let _: &Path = run.path();
}
