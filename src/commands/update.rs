//! `shipready update`: bring template and profile changes in.
//!
//! Per path, from the plan (disk against the lock's base and a fresh render):
//! untouched files are replaced; locally edited files are merged three ways
//! (base = last render from the lock, ours = disk, theirs = new render) and
//! a conflict is written as inline markers, listed, and makes the command
//! exit 1; orphaned files are removed only when nobody edited them. The lock
//! is written last and records the new render as every file's base, so a
//! merged file keeps showing as locally modified afterwards.

use std::borrow::Cow;
use std::path::Path;

use crate::answers;
use crate::cli::UpdateArgs;
use crate::core::apply::{self, Changes, Removal, Write};
use crate::core::lock::{Lock, LOCK_FILE};
use crate::core::merge::{self, uses_crlf, with_line_endings};
use crate::core::plan::{Action, FileChange, Mode, Plan};
use crate::core::project::{Access, Project};
use crate::core::render;
use crate::error::{exit, Error};
use crate::ui;

/// One path's step, with the text to write when there is one.
#[derive(Debug, Clone)]
pub struct Step {
    pub path: String,
    pub action: Action,
    /// Contents to write (for create, restore, replace, merge, conflict).
    pub contents: Option<String>,
    pub mode: u32,
    /// Conflicting regions written (for `Conflict`).
    pub conflicts: usize,
}

/// Decide every path's step. Pure: reads nothing, writes nothing.
pub fn steps(plan: &Plan, template_version: &str) -> Vec<Step> {
    plan.changes
        .iter()
        .map(|c| step(c, template_version))
        .collect()
}

fn step(c: &FileChange, template_version: &str) -> Step {
    let mut s = Step {
        path: c.path.clone(),
        action: Action::decide(c, Mode::Update),
        contents: None,
        mode: c.mode(),
        conflicts: 0,
    };
    let disk = c.disk.as_deref();
    let render = c.rendered.as_ref().map(|r| r.contents.as_str());
    match s.action {
        Action::Create | Action::Restore => s.contents = render.map(str::to_string),
        Action::Replace => {
            let crlf = disk.is_some_and(uses_crlf);
            s.contents = render.map(|r| with_line_endings(r, crlf));
        }
        Action::Merge => {
            let (Some(disk), Some(render)) = (disk, render) else {
                unreachable!("a conflicting file has a disk and a render")
            };
            // Without a kept base every line counts as changed on both
            // sides: the merge is all conflict, and nothing is lost.
            let base = c.base_text.as_deref().unwrap_or("");
            let m = merge::merge3(base, disk, render, template_version);
            if m.conflicts > 0 {
                s.action = Action::Conflict;
            }
            s.conflicts = m.conflicts;
            s.contents = Some(m.text);
        }
        _ => {}
    }
    s
}

pub fn run(args: &UpdateArgs) -> Result<i32, Error> {
    let access = if args.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let project = Project::open(&args.dir, args.templates.as_deref(), access)?;
    let lock = project.require_lock()?;
    let templates = &project.templates;
    let profile_changed = !args.answers.set.is_empty() || args.answers.values.is_some();
    let profile = if profile_changed {
        answers::resolve_from_lock(&lock.profile, &args.answers)?
    } else {
        lock.profile.clone()
    };
    let tree = render::render(&profile, templates)?;
    let plan = Plan::compute(&args.dir, &tree, Some(lock))?;
    let steps = steps(&plan, templates.version());

    let new_lock = next_lock(lock, &profile, &tree, &steps);
    let mut changes = Changes::default();
    for (s, c) in steps.iter().zip(&plan.changes) {
        if let Some(contents) = s.contents.as_deref() {
            changes.writes.push(Write {
                path: Cow::Borrowed(&s.path),
                contents: Cow::Borrowed(contents),
                mode: s.mode,
                original: c.disk.as_deref(),
            });
        }
        if s.action == Action::Remove {
            changes.removals.push(Removal {
                path: &s.path,
                original: c.disk.as_deref().unwrap_or_default(),
                mode: s.mode,
            });
        }
    }
    let unresolved: Vec<&Step> = steps
        .iter()
        .filter(|s| s.action.needs_resolution())
        .collect();
    let code = if unresolved.is_empty() {
        exit::OK
    } else {
        exit::FINDINGS
    };

    if !args.dry_run {
        let lock_changed = new_lock != *lock;
        if lock_changed {
            changes.last = apply::lock_writes(
                &args.dir,
                &new_lock,
                &tree,
                Some(lock),
                project.lock_text.as_deref(),
            )?;
        }
        if !changes.writes.is_empty() || !changes.removals.is_empty() || lock_changed {
            apply::apply(&args.dir, &changes)?;
            apply::stale_bases(&args.dir, &new_lock, Some(lock));
        }
    }
    report(
        &steps,
        &args.dir,
        lock,
        &new_lock,
        templates.version(),
        args.dry_run,
    );
    Ok(code)
}

/// The lock after the steps: the new profile and render as every file's
/// base; orphans dropped; a file left with unresolved markers from an
/// earlier update keeps its old base, so its template change is merged once
/// the markers are gone rather than lost.
pub fn next_lock(
    old: &Lock,
    profile: &crate::profile::Profile,
    tree: &render::RenderedTree,
    steps: &[Step],
) -> Lock {
    let mut lock = apply::lock_for(profile, old.preset.clone(), tree);
    for s in steps {
        if s.action == Action::Unresolved {
            match old.files.get(&s.path) {
                Some(base) => {
                    lock.files.insert(s.path.clone(), base.clone());
                }
                None => {
                    lock.files.remove(&s.path);
                }
            }
        }
    }
    let same_contents = lock.schema == old.schema
        && lock.template_version == old.template_version
        && lock.profile == old.profile
        && lock.files == old.files
        && lock.preset == old.preset;
    if same_contents {
        // A no-op update with another binary does not rewrite the lock for
        // the version string alone.
        lock.shipready_version = old.shipready_version.clone();
    }
    lock
}

fn report(steps: &[Step], dir: &Path, lock: &Lock, new_lock: &Lock, version: &str, dry_run: bool) {
    let mut out = String::new();
    let listed: Vec<&Step> = steps.iter().filter(|s| s.action != Action::Same).collect();
    let width = listed.iter().map(|s| s.path.len()).max().unwrap_or(0);
    for s in &listed {
        let mut line = format!(
            "  {} {:<width$}",
            ui::toned(s.action.label(), s.action.tone(), 8),
            s.path
        );
        if let Some(n) = s.action.note() {
            line.push_str(&format!("  {}", ui::hint(&format!("({n})"))));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let count = |a: &[Action]| steps.iter().filter(|s| a.contains(&s.action)).count();
    let changed = count(&[
        Action::Create,
        Action::Restore,
        Action::Replace,
        Action::Merge,
        Action::Conflict,
        Action::Remove,
    ]);
    let same = count(&[Action::Same]);
    let kept = count(&[Action::KeepEdit, Action::Adopt, Action::KeepOrphan]);
    let templates = if lock.template_version == version {
        format!("templates {version}")
    } else {
        format!("templates {} → {version}", lock.template_version)
    };
    let head = if dry_run { "Would change" } else { "Changed" };
    if changed == 0 && listed.iter().all(|s| !s.action.needs_resolution()) && kept == 0 {
        out.push_str(&format!(
            "{} all {same} files match the render ({templates}) in {}.\n",
            ui::heading("Up to date:"),
            dir.display()
        ));
    } else {
        out.push_str(&format!(
            "{} {changed} files ({templates}) in {}; {kept} kept with local edits, {same} unchanged.\n",
            ui::heading(head),
            dir.display()
        ));
    }
    if new_lock.profile != lock.profile {
        let verb = if dry_run { "would record" } else { "records" };
        out.push_str(&format!("{LOCK_FILE} {verb} the changed profile.\n"));
    }
    let unresolved: Vec<&&Step> = listed
        .iter()
        .filter(|s| s.action.needs_resolution())
        .collect();
    if !unresolved.is_empty() {
        let n = unresolved.len();
        let files = if n == 1 { "file" } else { "files" };
        let verb = if dry_run { "would be left" } else { "remain" };
        out.push_str(&format!(
            "{} {verb} in {n} {files}; resolve the blocks between \
             `<<<<<<< local (your edits)` and `>>>>>>> template {version}`, then run `shipready diff`:\n",
            ui::state_style("conflict").apply_to("Conflicts"),
        ));
        for s in unresolved {
            out.push_str(&format!("  - {}\n", s.path));
        }
    }
    if dry_run {
        out.push_str(&format!(
            "{}\n",
            ui::hint(&format!(
                "Dry run: nothing was written, {LOCK_FILE} included."
            ))
        ));
    }
    print!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lock::LockedFile;
    use crate::core::plan::FileState;
    use crate::core::render::RenderedFile;

    fn change(
        path: &str,
        state: FileState,
        render: Option<&str>,
        disk: Option<&str>,
        base: Option<&str>,
    ) -> FileChange {
        FileChange {
            path: path.into(),
            state,
            rendered: render.map(|r| RenderedFile {
                path: path.into(),
                contents: r.into(),
                mode: 0o644,
                template: format!("{path}.tera"),
            }),
            disk: disk.map(str::to_string),
            base: base.map(|b| LockedFile::new(b, 0o644)),
            base_text: base.map(str::to_string),
        }
    }

    fn lines(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn every_state_gets_a_step() {
        let v1 = lines(10);
        let v2 = format!("{v1}added by template\n");
        let mine = format!("mine\n{v1}");
        let plan = Plan {
            changes: vec![
                change(
                    "same",
                    FileState::Unchanged,
                    Some(&v1),
                    Some(&v1),
                    Some(&v1),
                ),
                change("new", FileState::New, Some(&v1), None, None),
                change("missing", FileState::Missing, Some(&v1), None, Some(&v1)),
                change(
                    "outdated",
                    FileState::Outdated,
                    Some(&v2),
                    Some(&v1),
                    Some(&v1),
                ),
                change(
                    "crlf",
                    FileState::Outdated,
                    Some(&v2),
                    Some(&v1.replace('\n', "\r\n")),
                    Some(&v1),
                ),
                change(
                    "mod",
                    FileState::Modified,
                    Some(&v1),
                    Some(&mine),
                    Some(&v1),
                ),
                change(
                    "both",
                    FileState::Conflicting,
                    Some(&v2),
                    Some(&mine),
                    Some(&v1),
                ),
                change(
                    "untracked",
                    FileState::Untracked,
                    Some(&v1),
                    Some("x\n"),
                    None,
                ),
                change("gone", FileState::Orphaned, None, None, Some(&v1)),
                change("orphan", FileState::Orphaned, None, Some(&v1), Some(&v1)),
                change(
                    "orphan-edited",
                    FileState::Orphaned,
                    None,
                    Some(&mine),
                    Some(&v1),
                ),
            ],
        };
        let s = steps(&plan, "1.1.0");
        let actions: Vec<Action> = s.iter().map(|s| s.action).collect();
        assert_eq!(
            actions,
            vec![
                Action::Same,
                Action::Create,
                Action::Restore,
                Action::Replace,
                Action::Replace,
                Action::KeepEdit,
                Action::Merge,
                Action::Adopt,
                Action::Forget,
                Action::Remove,
                Action::KeepOrphan,
            ]
        );
        assert_eq!(
            s[4].contents.as_deref(),
            Some(v2.replace('\n', "\r\n").as_str())
        );
        assert_eq!(
            s[6].contents.as_deref(),
            Some(format!("mine\n{v1}added by template\n").as_str())
        );
        // Only creating, replacing and merging write; nothing else does.
        for st in &s {
            let writes = matches!(
                st.action,
                Action::Create
                    | Action::Restore
                    | Action::Replace
                    | Action::Merge
                    | Action::Conflict
            );
            assert_eq!(st.contents.is_some(), writes, "{}", st.path);
        }
    }

    #[test]
    fn overlapping_edits_conflict_and_old_markers_block() {
        let v1 = lines(5);
        let v2 = v1.replace("line 3\n", "line 3 template\n");
        let mine = v1.replace("line 3\n", "line 3 mine\n");
        let step_of = |state, disk: &str| {
            let plan = Plan {
                changes: vec![change("f", state, Some(&v2), Some(disk), Some(&v1))],
            };
            steps(&plan, "1.1.0").remove(0)
        };
        let s = step_of(FileState::Conflicting, &mine);
        assert_eq!(s.action, Action::Conflict);
        let written = s.contents.clone().unwrap();
        assert!(written.contains("line 3 mine\n") && written.contains("line 3 template\n"));
        // Running again over the file with markers leaves it alone.
        let s = step_of(FileState::Unresolved, &written);
        assert_eq!(s.action, Action::Unresolved);
        assert!(s.contents.is_none());
    }
}
