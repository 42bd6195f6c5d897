//! The plan: for every path, what the disk holds against what the lock
//! remembers and what a fresh render produces.
//!
//! Every command computes a plan first and only then acts on it, so a bad
//! profile or a template error never leaves half a tree behind.

use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

use crate::error::Error;
use crate::fsio;
use crate::lock::{hash, normalize_newlines, Lock, LockedFile};
use crate::render::{RenderedFile, RenderedTree};

/// The state of one path. Names follow `shipready diff`'s output.
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
    /// In the lock and rendered, but deleted from disk.
    Missing,
    /// On disk with other contents, never written by shipready.
    Untracked,
    /// In the lock, no longer rendered by the current profile and templates.
    Orphaned,
}

impl FileState {
    pub fn label(self) -> &'static str {
        match self {
            FileState::Unchanged => "unchanged",
            FileState::New => "new",
            FileState::Outdated => "outdated",
            FileState::Modified => "modified",
            FileState::Conflicting => "conflicting",
            FileState::Missing => "missing",
            FileState::Untracked => "untracked",
            FileState::Orphaned => "orphaned",
        }
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
}

impl FileChange {
    /// Whether the disk differs from what shipready last wrote (or, for a file
    /// it never wrote, from the render).
    pub fn locally_edited(&self) -> bool {
        matches!(
            self.state,
            FileState::Modified | FileState::Conflicting | FileState::Untracked
        )
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
        let mut disks = fsio::read_many(root, &paths)?.into_iter();

        let mut changes = Vec::with_capacity(paths.len());
        for (file, disk) in tree.files.iter().zip(disks.by_ref()) {
            let base = lock.and_then(|l| l.files.get(&file.path)).cloned();
            let state = classify(&file.contents, disk.as_deref(), base.as_ref());
            changes.push(FileChange {
                path: file.path.clone(),
                state,
                rendered: Some(file.clone()),
                disk,
                base,
            });
        }
        for ((path, base), disk) in orphans.into_iter().zip(disks) {
            changes.push(FileChange {
                path: path.clone(),
                state: FileState::Orphaned,
                rendered: None,
                disk,
                base: Some(base.clone()),
            });
        }
        Ok(Plan { changes })
    }

    pub fn count(&self, state: FileState) -> usize {
        self.changes.iter().filter(|c| c.state == state).count()
    }
}

fn same(a: &str, b: &str) -> bool {
    normalize_newlines(a) == normalize_newlines(b)
}

fn classify(rendered: &str, disk: Option<&str>, base: Option<&LockedFile>) -> FileState {
    match (disk, base) {
        (None, None) => FileState::New,
        (None, Some(_)) => FileState::Missing,
        (Some(d), None) => {
            if same(d, rendered) {
                FileState::Unchanged
            } else {
                FileState::Untracked
            }
        }
        (Some(d), Some(b)) => {
            let ours = hash(d) != b.sha256;
            let theirs = !same(&b.base, rendered);
            match (ours, theirs) {
                (false, false) => FileState::Unchanged,
                (false, true) => FileState::Outdated,
                (true, false) => FileState::Modified,
                // Both sides made the same change: nothing to merge.
                (true, true) if same(d, rendered) => FileState::Unchanged,
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
    }
}
