//! Acting on a plan, all or nothing.
//!
//! Every new file is first written in full beside its destination (after a
//! check that the disk has room), and only when all of them are written are
//! they renamed into place, the lock last. A failure while writing leaves
//! the tree exactly as it was; a failure while renaming (rare: renames need
//! no space) puts back what was already renamed. A killed run leaves at most
//! temp files, which the next writing run removes, and the old lock still
//! describes the files on disk.

use std::borrow::Cow;
use std::path::Path;

use crate::core::fsio::{self, Staged};
use crate::core::lock::{
    base_path, Lock, BASE_DIR, LOCK_FILE, LOCK_SCHEMA, STATE_ATTRIBUTES, STATE_ATTRIBUTES_TEXT,
};
use crate::core::parallel;
use crate::core::render::RenderedTree;
use crate::core::text::hash;
use crate::error::Error;
use crate::profile::Profile;

/// One file to write.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    pub path: Cow<'a, str>,
    pub contents: Cow<'a, str>,
    pub mode: u32,
    /// What the file held before (None: it did not exist), to put back if
    /// the run fails after the file was renamed into place.
    pub original: Option<&'a str>,
}

/// One file to delete, with what it held, for the same reason.
#[derive(Debug, Clone)]
pub struct Removal<'a> {
    pub path: &'a str,
    pub original: &'a str,
    pub mode: u32,
}

/// Everything one run changes.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub writes: Vec<Write<'a>>,
    pub removals: Vec<Removal<'a>>,
    /// Written after everything else: the lock and its bases.
    pub last: Vec<Write<'a>>,
}

/// Room kept free beyond the bytes written (a block per file, and then some).
const SLACK_PER_FILE: u64 = 4096;

/// Apply `changes` under `root`, all or nothing.
pub fn apply(root: &Path, changes: &Changes<'_>) -> Result<(), Error> {
    apply_failing_at(root, changes, None)
}

/// [`apply`], failing on purpose before step `fail_at` (a test hook: every
/// staged write and every rename is a step).
fn apply_failing_at(
    root: &Path,
    changes: &Changes<'_>,
    fail_at: Option<usize>,
) -> Result<(), Error> {
    let all_writes: Vec<&Write<'_>> = changes.writes.iter().chain(&changes.last).collect();
    let mut dirs: Vec<&str> = all_writes
        .iter()
        .map(|w| parent(&w.path))
        .chain(changes.removals.iter().map(|r| parent(r.path)))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    fsio::sweep_temps(root, dirs.iter().copied().chain([""]));

    let need: u64 = all_writes
        .iter()
        .map(|w| w.contents.len() as u64 + SLACK_PER_FILE)
        .sum();
    if let Some(free) = fsio::free_bytes(root) {
        if free < need {
            return Err(Error::NoSpace {
                dir: root.to_path_buf(),
                need,
                free,
            });
        }
    }

    let mut step = 0usize;
    let mut fail = |what: &Path| -> Result<(), Error> {
        step += 1;
        if fail_at == Some(step) {
            return Err(Error::io(what, std::io::Error::other("injected failure")));
        }
        Ok(())
    };

    // 1. Write every file beside its destination. No fsync: the promise is
    // atomicity against an interrupted or failed run (a reader sees the old
    // file or the new one, never half). Syncing every file and directory
    // made init and update ten times slower, for a power-loss guarantee the
    // editors and tools that write the rest of the repository do not give.
    let mut stager = fsio::Stager::new(root)?;
    let mut staged: Vec<Staged> = Vec::with_capacity(all_writes.len());
    let staging = (|| {
        // Directories first, in one thread (the step is counted there);
        // then every file over the cores, in the order given.
        for w in &all_writes {
            fail(&root.join(&*w.path))?;
            stager.prepare(&w.path)?;
        }
        staged = parallel::try_map(&all_writes, |w| stager.stage(&w.path, &w.contents, w.mode))?;
        Ok::<(), Error>(())
    })();
    if let Err(e) = staging {
        drop(staged); // deletes the temp files
        fsio::remove_empty_dirs(root, &stager.created);
        return Err(e);
    }

    // 2. Rename into place; removals before the lock, which goes last.
    let split = changes.writes.len();
    let mut done_writes = 0usize;
    let mut done_removals = 0usize;
    let mut staged = staged.into_iter();
    let committing = (|| {
        for s in staged.by_ref().take(split) {
            fail(&s.dest)?;
            s.commit()?;
            done_writes += 1;
        }
        for r in &changes.removals {
            fail(&root.join(r.path))?;
            fsio::remove_file(root, r.path)?;
            done_removals += 1;
        }
        for s in staged.by_ref() {
            fail(&s.dest)?;
            s.commit()?;
            done_writes += 1;
        }
        Ok::<(), Error>(())
    })();
    if let Err(e) = committing {
        drop(staged);
        roll_back(
            root,
            &all_writes[..done_writes],
            &changes.removals[..done_removals],
        );
        fsio::remove_empty_dirs(root, &stager.created);
        return Err(e);
    }

    // 3. Directories a removal emptied go too (up to the root).
    fsio::remove_empty_dirs(root, &ancestors(changes.removals.iter().map(|r| r.path)));
    Ok(())
}

/// Every directory above `paths` (relative), the root excluded.
fn ancestors<'p>(paths: impl Iterator<Item = &'p str>) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        let mut d = path;
        while let Some((dir, _)) = d.rsplit_once('/') {
            out.push(dir.to_string());
            d = dir;
        }
    }
    out
}

/// Put back what a failed run already renamed into place.
fn roll_back(root: &Path, written: &[&Write<'_>], removed: &[Removal<'_>]) {
    for w in written {
        let _ = match w.original {
            Some(text) => fsio::write_atomic(root, &w.path, text, w.mode),
            None => fsio::remove_file(root, &w.path),
        };
    }
    for r in removed {
        let _ = fsio::write_atomic(root, r.path, r.original, r.mode);
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// A lock recording `tree` as the base of every file in it.
pub fn lock_for(profile: &Profile, preset: Option<String>, tree: &RenderedTree) -> Lock {
    Lock {
        schema: LOCK_SCHEMA,
        shipready_version: env!("CARGO_PKG_VERSION").to_string(),
        template_version: tree.template_version.clone(),
        preset,
        profile: profile.clone(),
        files: tree
            .files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    crate::core::lock::LockedFile::new(&f.contents, f.mode),
                )
            })
            .collect(),
    }
}

/// The writes that record `new` on disk: `shipready.toml` and every base
/// under `.shipready/base/` that is not already there. A base is the render
/// whose hash the lock records, or the old lock's base for a file whose
/// entry was carried over.
pub fn lock_writes<'a>(
    root: &Path,
    new: &Lock,
    tree: &'a RenderedTree,
    old: Option<&'a Lock>,
    old_lock_text: Option<&'a str>,
) -> Result<Vec<Write<'a>>, Error> {
    let mut out = Vec::new();
    let old_has_base_files = old.is_some_and(|l| l.schema >= 2);
    for (path, entry) in &new.files {
        let kept = old_has_base_files
            && old
                .and_then(|l| l.files.get(path))
                .is_some_and(|o| o.sha256 == entry.sha256)
            && root.join(base_path(path)).is_file();
        if kept {
            continue;
        }
        let text: Cow<'a, str> = match tree.get(path) {
            Some(f) if hash(&f.contents) == entry.sha256 => Cow::Borrowed(f.contents.as_str()),
            _ => match old.map(|l| l.base(root, path)).transpose()?.flatten() {
                Some(text) => Cow::Owned(text),
                None => continue, // no base was ever kept: merges fall back to conflicts
            },
        };
        out.push(Write {
            path: Cow::Owned(base_path(path)),
            contents: text,
            mode: 0o644,
            original: None,
        });
    }
    if out.iter().any(|w| w.path.starts_with(BASE_DIR)) && !root.join(STATE_ATTRIBUTES).is_file() {
        out.push(Write {
            path: Cow::Borrowed(STATE_ATTRIBUTES),
            contents: Cow::Borrowed(STATE_ATTRIBUTES_TEXT),
            mode: 0o644,
            original: None,
        });
    }
    out.push(Write {
        path: Cow::Borrowed(LOCK_FILE),
        contents: Cow::Owned(new.to_text()),
        mode: 0o644,
        original: old_lock_text,
    });
    Ok(out)
}

/// Bases of files the new lock no longer manages; removed after a
/// successful run (a leftover one is harmless: nothing reads it).
pub fn stale_bases(root: &Path, new: &Lock, old: Option<&Lock>) {
    let stale: Vec<String> = old
        .into_iter()
        .flat_map(|l| l.files.keys())
        .filter(|path| !new.files.contains_key(*path))
        .map(|path| base_path(path))
        .collect();
    if stale.is_empty() {
        return;
    }
    for base in &stale {
        let _ = fsio::remove_file(root, base);
    }
    fsio::remove_empty_dirs(root, &ancestors(stale.iter().map(String::as_str)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `root` with its bytes.
    fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                if p.is_dir() {
                    out.push((format!("{rel}/"), Vec::new()));
                    stack.push(p);
                } else {
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_failure_at_any_step_leaves_the_tree_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("deploy")).unwrap();
        std::fs::write(root.join("deploy/old.conf"), "old\n").unwrap();
        std::fs::write(root.join("gone.txt"), "bye\n").unwrap();
        std::fs::write(root.join("shipready.toml"), "lock v1\n").unwrap();
        let before = snapshot(root);
        let changes = Changes {
            writes: vec![
                Write {
                    path: "deploy/old.conf".into(),
                    contents: "new\n".into(),
                    mode: 0o644,
                    original: Some("old\n"),
                },
                Write {
                    path: "a/b/c.sh".into(),
                    contents: "#!/bin/sh\n".into(),
                    mode: 0o755,
                    original: None,
                },
                Write {
                    path: "top.txt".into(),
                    contents: "top\n".into(),
                    mode: 0o644,
                    original: None,
                },
            ],
            removals: vec![Removal {
                path: "gone.txt",
                original: "bye\n",
                mode: 0o644,
            }],
            last: vec![Write {
                path: "shipready.toml".into(),
                contents: "lock v2\n".into(),
                mode: 0o644,
                original: Some("lock v1\n"),
            }],
        };
        // 4 staged writes + 3 renames + 1 removal + the lock's rename.
        let steps = 9;
        for k in 1..=steps {
            let err = apply_failing_at(root, &changes, Some(k)).unwrap_err();
            assert!(err.to_string().contains("injected failure"), "{err}");
            assert_eq!(snapshot(root), before, "failure at step {k}");
        }
        apply_failing_at(root, &changes, Some(steps + 1)).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("shipready.toml")).unwrap(),
            "lock v2\n"
        );
        assert!(!root.join("gone.txt").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("a/b/c.sh")).unwrap(),
            "#!/bin/sh\n"
        );
    }

    #[test]
    fn stray_temp_files_are_swept_and_emptied_dirs_removed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("deploy/redis")).unwrap();
        std::fs::write(root.join("deploy/redis/.shipready-AbC123"), "half").unwrap();
        std::fs::write(root.join(".shipready-xyz"), "half").unwrap();
        std::fs::write(root.join("deploy/redis/redis.conf"), "x\n").unwrap();
        let changes = Changes {
            writes: vec![],
            removals: vec![Removal {
                path: "deploy/redis/redis.conf",
                original: "x\n",
                mode: 0o644,
            }],
            last: vec![],
        };
        apply(root, &changes).unwrap();
        assert!(!root.join("deploy").exists(), "{:?}", snapshot(root));
        assert!(!root.join(".shipready-xyz").exists());
    }
}
