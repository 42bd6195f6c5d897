//! The plan: for every path, what the disk holds against what the lock
//! remembers and what a fresh render produces.
//!
//! Every command computes a plan first and only then acts on it, so a bad
//! profile or a template error never leaves half a tree behind.

use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

use crate::core::fsio;
use crate::core::lock::{Lock, LockedFile};
use crate::core::merge::has_conflict_markers;
use crate::core::render::{RenderedFile, RenderedTree};
use crate::core::text::hash;
use crate::error::Error;

/// The state of one path: what the disk holds against the lock and the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// Disk, lock and render agree.
    Unchanged,
    /// Rendered, not on disk, not in the lock: a file to create.
    New,
    /// The template changed; the file on disk is still the last render.
    Outdated,
    /// Edited locally; the template did not change.
    Modified,
    /// Edited locally and the template changed too.
    Conflicting,
    /// Holds conflict markers from an earlier `update` nobody resolved yet.
    Unresolved,
    /// In the lock and rendered, but deleted from disk.
    Missing,
    /// On disk with other contents, never written by shipready.
    Untracked,
    /// In the lock, no longer rendered by the current profile and templates.
    Orphaned,
}

impl FileState {
    /// The word `diff` reports. A file shipready never wrote and a file with
    /// unresolved markers both need a person, so both read "conflicting".
    pub fn label(self) -> &'static str {
        match self {
            FileState::Unchanged => "unchanged",
            FileState::New => "new",
            FileState::Outdated => "outdated",
            FileState::Modified => "modified",
            FileState::Conflicting | FileState::Unresolved | FileState::Untracked => "conflicting",
            FileState::Missing => "missing",
            FileState::Orphaned => "orphaned",
        }
    }

    /// Every label `diff` may report, in its order.
    pub const LABELS: [&'static str; 7] = [
        "unchanged",
        "outdated",
        "modified",
        "conflicting",
        "missing",
        "new",
        "orphaned",
    ];

    pub fn tone(self) -> Tone {
        match self {
            FileState::Unchanged => Tone::Quiet,
            FileState::New => Tone::Added,
            FileState::Outdated => Tone::Changed,
            FileState::Modified | FileState::Missing | FileState::Orphaned => Tone::Kept,
            FileState::Conflicting | FileState::Unresolved | FileState::Untracked => Tone::Conflict,
        }
    }
}

/// How an outcome reads at a glance; the terminal picks a colour for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Added,
    Changed,
    Kept,
    Removed,
    Conflict,
    Quiet,
}

/// What a command does to one path. The one vocabulary every command prints.
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
    /// No longer rendered but edited locally (or, for init, not removed):
    /// left in place, no longer managed.
    KeepOrphan,
    /// No longer rendered and already deleted: dropped from the lock.
    Forget,
    /// `init` without `--force` over a file that differs: stops the run.
    Block,
    /// `init --force` over a file that differs: replaced, the old text kept
    /// as a backup.
    Overwrite,
}

/// Which command decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Init,
    InitForce,
    Update,
}

impl Action {
    /// What `mode` does with a path in `state`. Pure. A merge may still turn
    /// `Merge` into `Conflict` once its result is known.
    pub fn decide(change: &FileChange, mode: Mode) -> Action {
        let edited_orphan = || match (&change.disk, &change.base) {
            (None, _) => Action::Forget,
            (Some(d), Some(b)) if hash(d) == b.sha256 => Action::Remove,
            _ => Action::KeepOrphan,
        };
        match (change.state, mode) {
            (FileState::Unchanged, _) => Action::Same,
            (FileState::New, _) => Action::Create,
            (FileState::Missing, _) => Action::Restore,
            (FileState::Outdated, _) => Action::Replace,
            (
                FileState::Modified
                | FileState::Conflicting
                | FileState::Unresolved
                | FileState::Untracked,
                Mode::Init,
            ) => Action::Block,
            (
                FileState::Modified
                | FileState::Conflicting
                | FileState::Unresolved
                | FileState::Untracked,
                Mode::InitForce,
            ) => Action::Overwrite,
            (FileState::Modified, Mode::Update) => Action::KeepEdit,
            (FileState::Conflicting, Mode::Update) => Action::Merge,
            (FileState::Unresolved, Mode::Update) => Action::Unresolved,
            (FileState::Untracked, Mode::Update) => Action::Adopt,
            (FileState::Orphaned, Mode::Init | Mode::InitForce) => match change.disk {
                None => Action::Forget,
                Some(_) => Action::KeepOrphan,
            },
            (FileState::Orphaned, Mode::Update) => edited_orphan(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Action::Same => "same",
            Action::Create => "create",
            Action::Restore => "restore",
            Action::Replace => "update",
            Action::Merge => "merged",
            Action::Conflict | Action::Unresolved | Action::Block => "conflict",
            Action::KeepEdit | Action::KeepOrphan => "keep",
            Action::Adopt => "adopt",
            Action::Remove => "remove",
            Action::Forget => "forget",
            Action::Overwrite => "replace",
        }
    }

    /// Why, where the label alone does not say.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Action::Merge => Some("your edits and the template's changes, merged"),
            Action::Conflict => Some("resolve the <<<<<<< markers"),
            Action::Unresolved => Some("markers from an earlier update are still there"),
            Action::KeepEdit => Some("edited locally; the template has nothing new"),
            Action::Adopt => Some("existed before shipready wrote it; kept yours"),
            Action::KeepOrphan => Some("no longer rendered; left in place, no longer managed"),
            Action::Forget => Some("no longer rendered, already deleted"),
            Action::Restore => Some("was deleted locally"),
            Action::Block => Some("differs from the render; init stops unless --force"),
            Action::Overwrite => Some("differs from the render; your version is backed up"),
            _ => None,
        }
    }

    pub fn tone(self) -> Tone {
        match self {
            Action::Create | Action::Restore => Tone::Added,
            Action::Replace | Action::Merge | Action::Overwrite => Tone::Changed,
            Action::Conflict | Action::Unresolved | Action::Block => Tone::Conflict,
            Action::KeepEdit | Action::Adopt | Action::KeepOrphan => Tone::Kept,
            Action::Remove | Action::Forget => Tone::Removed,
            Action::Same => Tone::Quiet,
        }
    }

    /// Whether the action writes the file.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Restore
                | Action::Replace
                | Action::Merge
                | Action::Conflict
                | Action::Overwrite
        )
    }

    /// Whether a person must still act on this path.
    pub fn needs_resolution(self) -> bool {
        matches!(self, Action::Conflict | Action::Unresolved | Action::Block)
    }
}

/// One path in the plan.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub state: FileState,
    /// The fresh render (absent for orphaned files).
    pub rendered: Option<RenderedFile>,
    /// What is on disk now (absent when the file does not exist).
    pub disk: Option<String>,
    /// What the lock remembers (absent for files shipready never wrote).
    pub base: Option<LockedFile>,
    /// The last render's text, read only where a merge needs it
    /// (conflicting files) and only when it was kept.
    pub base_text: Option<String>,
}

impl FileChange {
    /// Whether the disk differs from what shipready last wrote (or, for a file
    /// it never wrote, from the render).
    pub fn locally_edited(&self) -> bool {
        matches!(
            self.state,
            FileState::Modified
                | FileState::Conflicting
                | FileState::Unresolved
                | FileState::Untracked
        )
    }

    /// The mode to write with: the render's, else the lock's.
    pub fn mode(&self) -> u32 {
        self.rendered
            .as_ref()
            .map(|r| r.mode)
            .or_else(|| self.base.as_ref().and_then(LockedFile::mode_bits))
            .unwrap_or(0o644)
    }

    /// Why the state was chosen, where the state alone does not say.
    pub fn note(&self) -> Option<&'static str> {
        match self.state {
            FileState::Untracked => Some("exists, but shipready did not write it"),
            FileState::Unresolved => Some("unresolved conflict markers"),
            FileState::Orphaned => match (&self.disk, &self.base) {
                (None, _) => Some("already deleted"),
                (Some(d), Some(b)) if hash(d) != b.sha256 => {
                    Some("edited locally; update keeps it")
                }
                _ => Some("update removes it"),
            },
            FileState::Missing => Some("deleted locally; update restores it"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<FileChange>,
}

impl Plan {
    /// Compare a fresh render with the disk under `root` and the lock.
    pub fn compute(root: &Path, tree: &RenderedTree, lock: Option<&Lock>) -> Result<Plan, Error> {
        let rendered_paths: BTreeSet<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
        let orphans: Vec<(&String, &LockedFile)> = lock
            .map(|l| {
                l.files
                    .iter()
                    .filter(|(path, _)| !rendered_paths.contains(path.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let paths: Vec<&str> = tree
            .files
            .iter()
            .map(|f| f.path.as_str())
            .chain(orphans.iter().map(|(path, _)| path.as_str()))
            .collect();
        let disks = fsio::read_many(root, &paths)?;

        // The kept bases needed: a merge's; and for a file about to be
        // replaced or removed, the check that the lock's hash is the kept
        // render's (a hash edited to match the user's file must not let an
        // edit be lost). Read together, over the cores.
        let states: Vec<FileState> = tree
            .files
            .iter()
            .zip(&disks)
            .map(|(file, disk)| {
                let base = lock.and_then(|l| l.files.get(&file.path));
                classify(&file.contents, disk.as_deref(), base)
            })
            .collect();
        let needs_base: Vec<&str> = tree
            .files
            .iter()
            .zip(&states)
            .filter(|(_, s)| matches!(s, FileState::Conflicting | FileState::Outdated))
            .map(|(f, _)| f.path.as_str())
            .chain(
                orphans
                    .iter()
                    .zip(&disks[tree.files.len()..])
                    .filter(|((_, base), disk)| {
                        disk.as_deref().is_some_and(|d| hash(d) == base.sha256)
                    })
                    .map(|((path, _), _)| path.as_str()),
            )
            .collect();
        let mut bases: std::collections::HashMap<&str, Option<String>> = match lock {
            Some(l) => needs_base
                .iter()
                .copied()
                .zip(l.bases(root, &needs_base)?)
                .collect(),
            None => Default::default(),
        };

        let mut changes = Vec::with_capacity(paths.len());
        let mut disks = disks.into_iter();
        for ((file, disk), state) in tree.files.iter().zip(disks.by_ref()).zip(states) {
            let base = lock.and_then(|l| l.files.get(&file.path)).cloned();
            let base_text = match state {
                FileState::Conflicting | FileState::Outdated => {
                    bases.remove(file.path.as_str()).flatten()
                }
                _ => None,
            };
            changes.push(FileChange {
                path: file.path.clone(),
                state,
                rendered: Some(file.clone()),
                disk,
                base,
                base_text,
            });
        }
        for ((path, base), disk) in orphans.into_iter().zip(disks) {
            changes.push(FileChange {
                path: path.clone(),
                state: FileState::Orphaned,
                rendered: None,
                disk,
                base: Some(base.clone()),
                base_text: None,
            });
        }
        Ok(Plan { changes })
    }

    pub fn count(&self, state: FileState) -> usize {
        self.changes.iter().filter(|c| c.state == state).count()
    }
}

fn classify(rendered: &str, disk: Option<&str>, base: Option<&LockedFile>) -> FileState {
    let render_hash = || hash(rendered);
    match (disk, base) {
        (None, None) => FileState::New,
        (None, Some(_)) => FileState::Missing,
        (Some(d), None) => {
            if hash(d) == render_hash() {
                FileState::Unchanged
            } else {
                FileState::Untracked
            }
        }
        (Some(d), Some(b)) => {
            let disk_hash = hash(d);
            let ours = disk_hash != b.sha256;
            let theirs = render_hash() != b.sha256;
            match (ours, theirs) {
                (false, false) => FileState::Unchanged,
                (false, true) => FileState::Outdated,
                (true, _) if has_conflict_markers(d) => FileState::Unresolved,
                (true, false) => FileState::Modified,
                // Both sides made the same change: nothing to merge.
                (true, true) if disk_hash == render_hash() => FileState::Unchanged,
                (true, true) => FileState::Conflicting,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let b = LockedFile::new("v1\n", 0o644);
        assert_eq!(classify("v1\n", None, None), FileState::New);
        assert_eq!(classify("v1\n", None, Some(&b)), FileState::Missing);
        assert_eq!(classify("v1\n", Some("v1\n"), None), FileState::Unchanged);
        assert_eq!(classify("v1\n", Some("mine\n"), None), FileState::Untracked);
        assert_eq!(
            classify("v1\n", Some("v1\n"), Some(&b)),
            FileState::Unchanged
        );
        assert_eq!(
            classify("v2\n", Some("v1\n"), Some(&b)),
            FileState::Outdated
        );
        assert_eq!(
            classify("v1\n", Some("mine\n"), Some(&b)),
            FileState::Modified
        );
        assert_eq!(
            classify("v2\n", Some("mine\n"), Some(&b)),
            FileState::Conflicting
        );
        assert_eq!(
            classify("v2\n", Some("v2\n"), Some(&b)),
            FileState::Unchanged
        );
        assert_eq!(
            classify("v1\n", Some("v1\r\n"), Some(&b)),
            FileState::Unchanged
        );
        let markers = "<<<<<<< local (your edits)\nx\n=======\ny\n>>>>>>> template 1.0.0\n";
        assert_eq!(
            classify("v2\n", Some(markers), Some(&b)),
            FileState::Unresolved
        );
        assert_eq!(
            classify("v1\n", Some(markers), Some(&b)),
            FileState::Unresolved
        );
    }

    /// Every (state, mode) pair, with the action it gets.
    #[test]
    fn every_state_and_mode_has_one_action() {
        use Action::*;
        use FileState as S;
        let b = LockedFile::new("v1\n", 0o644);
        let change = |state, disk: Option<&str>| FileChange {
            path: "f".into(),
            state,
            rendered: None,
            disk: disk.map(str::to_string),
            base: Some(b.clone()),
            base_text: None,
        };
        #[rustfmt::skip]
        let table: &[(FileState, Option<&str>, [Action; 3])] = &[
            //  state           disk              Init       InitForce   Update
            (S::Unchanged,   Some("v1\n"),    [Same,      Same,       Same]),
            (S::New,         None,            [Create,    Create,     Create]),
            (S::Outdated,    Some("v1\n"),    [Replace,   Replace,    Replace]),
            (S::Modified,    Some("mine\n"),  [Block,     Overwrite,  KeepEdit]),
            (S::Conflicting, Some("mine\n"),  [Block,     Overwrite,  Merge]),
            (S::Unresolved,  Some("<<<\n"),   [Block,     Overwrite,  Unresolved]),
            (S::Missing,     None,            [Restore,   Restore,    Restore]),
            (S::Untracked,   Some("x\n"),     [Block,     Overwrite,  Adopt]),
            (S::Orphaned,    None,            [Forget,    Forget,     Forget]),
            (S::Orphaned,    Some("v1\n"),    [KeepOrphan, KeepOrphan, Remove]),
            (S::Orphaned,    Some("mine\n"),  [KeepOrphan, KeepOrphan, KeepOrphan]),
        ];
        for (state, disk, want) in table {
            for (mode, want) in [Mode::Init, Mode::InitForce, Mode::Update].iter().zip(want) {
                let got = Action::decide(&change(*state, *disk), *mode);
                assert_eq!(got, *want, "{state:?} {disk:?} {mode:?}");
                // Only actions that put the render (or a merge) on disk write.
                assert_eq!(
                    got.writes(),
                    matches!(
                        got,
                        Create | Restore | Replace | Merge | Conflict | Overwrite
                    )
                );
            }
        }
    }
}
