//! `shipready update`: bring template and profile changes in.
//!
//! Per path, from the plan (disk against the lock's base and a fresh render):
//! untouched files are replaced; locally edited files are merged three ways
//! (base = last render from the lock, ours = disk, theirs = new render) and
//! a conflict is written as inline markers, listed, and makes the command
//! exit 1; orphaned files are removed only when nobody edited them. The lock
//! is written last and records the new render as every file's base, so a
//! merged file keeps showing as locally modified afterwards.

use std::path::Path;

use crate::answers;
use crate::apply::{self, Write};
use crate::cli::UpdateArgs;
use crate::diff;
use crate::error::{exit, Error};
use crate::lock::{hash, Lock, LOCK_FILE};
use crate::merge::{self, has_conflict_markers, uses_crlf, with_line_endings};
use crate::plan::{FileChange, FileState, Plan};
use crate::render;
use crate::ui;

/// What `update` does to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Disk already matches the render.
    Same,
    /// Rendered now, absent before: written.
    Create,
    /// Deleted locally, still rendered: written again.
    Restore,
    /// Untouched since the last render: replaced by the new render.
    Replace,
    /// Edited locally and changed by the template: merged cleanly.
    Merge,
    /// Edited locally and changed by the template on the same lines:
    /// written with conflict markers.
    Conflict,
    /// Still holds conflict markers from an earlier update: left alone
    /// until a person resolves them.
    Unresolved,
    /// Edited locally, template unchanged: left as it is.
    KeepEdit,
    /// On disk already, never written by shipready, differs from the render:
    /// left as it is and tracked from now on as a local edit.
    Adopt,
    /// No longer rendered, untouched: removed.
    Remove,
    /// No longer rendered but edited locally: left in place, no longer managed.
    KeepOrphan,
    /// No longer rendered and already deleted: dropped from the lock.
    Forget,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Same => "same",
            Action::Create => "create",
            Action::Restore => "restore",
            Action::Replace => "update",
            Action::Merge => "merged",
            Action::Conflict | Action::Unresolved => "conflict",
            Action::KeepEdit => "keep",
            Action::Adopt => "adopt",
            Action::Remove => "remove",
            Action::KeepOrphan => "keep",
            Action::Forget => "forget",
        }
    }

    fn note(self) -> Option<&'static str> {
        match self {
            Action::Merge => Some("your edits and the template's changes, merged"),
            Action::Conflict => Some("resolve the <<<<<<< markers"),
            Action::Unresolved => Some("markers from an earlier update are still there"),
            Action::KeepEdit => Some("edited locally; the template has nothing new"),
            Action::Adopt => Some("existed before shipready wrote it; kept yours"),
            Action::KeepOrphan => Some("no longer rendered, edited locally; no longer managed"),
            Action::Forget => Some("no longer rendered, already deleted"),
            Action::Restore => Some("was deleted locally"),
            _ => None,
        }
    }

    /// Whether a person must still act on this path.
    pub fn needs_resolution(self) -> bool {
        matches!(self, Action::Conflict | Action::Unresolved)
    }

    fn style_label(self) -> &'static str {
        match self {
            Action::Create | Action::Restore => "create",
            Action::Replace | Action::Merge => "update",
            Action::Conflict | Action::Unresolved => "conflict",
            Action::KeepEdit | Action::Adopt | Action::KeepOrphan => "modified",
            Action::Remove | Action::Forget => "orphaned",
            Action::Same => "same",
        }
    }
}

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
    let rendered = c.rendered.as_ref();
    let mode = rendered
        .map(|r| r.mode)
        .or_else(|| {
            c.base
                .as_ref()
                .and_then(|b| u32::from_str_radix(&b.mode, 8).ok())
        })
        .unwrap_or(0o644);
    let mut s = Step {
        path: c.path.clone(),
        action: Action::Same,
        contents: None,
        mode,
        conflicts: 0,
    };
    let disk = c.disk.as_deref();
    let render = rendered.map(|r| r.contents.as_str());
    match c.state {
        FileState::Unchanged => {}
        FileState::New => {
            s.action = Action::Create;
            s.contents = render.map(str::to_string);
        }
        FileState::Missing => {
            s.action = Action::Restore;
            s.contents = render.map(str::to_string);
        }
        FileState::Outdated => {
            s.action = Action::Replace;
            let crlf = disk.is_some_and(uses_crlf);
            s.contents = render.map(|r| with_line_endings(r, crlf));
        }
        FileState::Modified => {
            s.action = if disk.is_some_and(has_conflict_markers) {
                Action::Unresolved
            } else {
                Action::KeepEdit
            };
        }
        FileState::Conflicting => {
            let (Some(disk), Some(render), Some(base)) = (disk, render, c.base.as_ref()) else {
                unreachable!("a conflicting file has a disk, a render and a base")
            };
            if has_conflict_markers(disk) {
                s.action = Action::Unresolved;
            } else {
                let m = merge::merge3(&base.base, disk, render, template_version);
                s.action = if m.conflicts > 0 {
                    Action::Conflict
                } else {
                    Action::Merge
                };
                s.conflicts = m.conflicts;
                s.contents = Some(m.text);
            }
        }
        FileState::Untracked => s.action = Action::Adopt,
        FileState::Orphaned => {
            s.action = match (disk, c.base.as_ref()) {
                (None, _) => Action::Forget,
                (Some(d), Some(b)) if hash(d) == b.sha256 => Action::Remove,
                _ => Action::KeepOrphan,
            };
        }
    }
    s
}

pub fn run(args: &UpdateArgs) -> Result<i32, Error> {
    let (lock, templates) = diff::open(&args.dir, args.templates.as_deref())?;
    let profile_changed = !args.answers.set.is_empty() || args.answers.values.is_some();
    let profile = if profile_changed {
        answers::resolve_from_lock(&lock.profile, &args.answers)?
    } else {
        lock.profile.clone()
    };
    let tree = render::render(&profile, &templates)?;
    let plan = Plan::compute(&args.dir, &tree, Some(&lock))?;
    let steps = steps(&plan, templates.version());

    let new_lock = next_lock(&lock, &profile, &tree, &steps);
    let writes: Vec<Write<'_>> = steps
        .iter()
        .filter_map(|s| {
            s.contents.as_deref().map(|contents| Write {
                path: &s.path,
                contents,
                mode: s.mode,
            })
        })
        .collect();
    let removals: Vec<&str> = steps
        .iter()
        .filter(|s| s.action == Action::Remove)
        .map(|s| s.path.as_str())
        .collect();
    let unresolved: Vec<&Step> = steps
        .iter()
        .filter(|s| s.action.needs_resolution())
        .collect();
    let code = if unresolved.is_empty() {
        exit::OK
    } else {
        exit::FINDINGS
    };

    if args.dry_run {
        report(
            &steps,
            &args.dir,
            &lock,
            &new_lock,
            templates.version(),
            true,
        );
        return Ok(code);
    }
    let lock_changed = new_lock != lock;
    if !writes.is_empty() || !removals.is_empty() || lock_changed {
        apply::apply(
            &args.dir,
            &writes,
            &removals,
            lock_changed.then_some(&new_lock),
        )?;
    }
    report(
        &steps,
        &args.dir,
        &lock,
        &new_lock,
        templates.version(),
        false,
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
    let same_contents = lock.template_version == old.template_version
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
            ui::state_style(s.action.style_label()).apply_to(format!("{:<8}", s.action.label())),
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
    use crate::lock::LockedFile;
    use crate::render::RenderedFile;

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
        let plan = Plan {
            changes: vec![change(
                "f",
                FileState::Conflicting,
                Some(&v2),
                Some(&mine),
                Some(&v1),
            )],
        };
        let s = steps(&plan, "1.1.0");
        assert_eq!(s[0].action, Action::Conflict);
        let written = s[0].contents.clone().unwrap();
        assert!(written.contains("line 3 mine\n") && written.contains("line 3 template\n"));
        // Running again over the file with markers leaves it alone.
        let plan = Plan {
            changes: vec![change(
                "f",
                FileState::Conflicting,
                Some(&v2),
                Some(&written),
                Some(&v1),
            )],
        };
        let s = steps(&plan, "1.1.0");
        assert_eq!(s[0].action, Action::Unresolved);
        assert!(s[0].contents.is_none());
    }
}
