//! Opening a project: the target directory, its lock, the template set, and
//! the rule that a tree is never rendered by templates older than the ones
//! that wrote it. Every command that reads or writes a tree opens it here,
//! so that rule and the run lock hold for all of them alike.

use std::cmp::Ordering;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::core::fsio;
use crate::core::lock::{Lock, LOCK_FILE};
use crate::core::templates::Templates;
use crate::error::Error;

/// What a command will do to the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only (diff, dry runs): shares the tree with other readers.
    Read,
    /// Writes: waits for every other run on the tree to finish first.
    Write,
}

/// An opened project. The run lock is held until it is dropped.
pub struct Project {
    pub dir: PathBuf,
    pub lock: Option<Lock>,
    /// The lock file's text as read, to put back if a run fails.
    pub lock_text: Option<String>,
    pub templates: Templates,
    _run_lock: Option<File>,
}

impl Project {
    /// Open `dir` with the built-in templates, or `overlay` laid over them.
    /// A tree whose lock names newer templates than these is refused: its
    /// render would go backwards and undo template changes.
    pub fn open(dir: &Path, overlay: Option<&Path>, access: Access) -> Result<Project, Error> {
        let run_lock = run_lock(dir, access)?;
        let templates = load_templates(overlay)?;
        let lock_text = fsio::read_existing(dir, LOCK_FILE)?;
        let lock = lock_text
            .as_deref()
            .map(|t| Lock::parse(t, dir))
            .transpose()?;
        if let Some(lock) = &lock {
            require_templates(lock, templates.version(), dir)?;
            lock.check_paths(dir)?;
        }
        Ok(Project {
            dir: dir.to_path_buf(),
            lock,
            lock_text,
            templates,
            _run_lock: run_lock,
        })
    }

    /// The lock, for commands that only make sense after `init`.
    pub fn require_lock(&self) -> Result<&Lock, Error> {
        self.lock
            .as_ref()
            .ok_or_else(|| Error::NoLock(self.dir.clone()))
    }
}

/// The built-in templates, or `overlay` laid over them.
pub fn load_templates(overlay: Option<&Path>) -> Result<Templates, Error> {
    match overlay {
        Some(dir) => Templates::with_overlay(dir),
        None => Ok(Templates::embedded()),
    }
}

/// An advisory lock on the directory itself, so two runs on one tree never
/// interleave their writes and the lock file always describes the files.
/// Readers share it; a writer waits for everyone. Nothing is created for a
/// read of a directory that does not exist.
fn run_lock(dir: &Path, access: Access) -> Result<Option<File>, Error> {
    if access == Access::Write {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    } else if !dir.is_dir() {
        return Ok(None);
    }
    let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
    let taken = match access {
        Access::Read => handle.try_lock_shared(),
        Access::Write => handle.try_lock(),
    };
    match taken {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another shipready run in {} to finish...",
                dir.display()
            );
            let waited = match access {
                Access::Read => handle.lock_shared(),
                Access::Write => handle.lock(),
            };
            waited.map_err(|e| Error::io(dir, e))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(dir, e)),
    }
    Ok(Some(handle))
}

/// A lock written by newer templates than `available` cannot be rendered
/// again safely: the render would go backwards and undo template changes.
pub fn require_templates(lock: &Lock, available: &str, dir: &Path) -> Result<(), Error> {
    if compare_versions(&lock.template_version, available) != Ordering::Greater {
        return Ok(());
    }
    let needed = &lock.template_version;
    let by = &lock.shipready_version;
    let ours = env!("CARGO_PKG_VERSION");
    let how = if compare_versions(by, ours) == Ordering::Greater {
        format!(
            "Install shipready {by} or newer (cargo install shipready --version {by}), \
             or pass --templates DIR holding a template set whose VERSION is {needed} or newer."
        )
    } else {
        format!(
            "shipready {by} wrote it from a --templates overlay; pass --templates DIR holding \
             that template set (VERSION {needed} or newer)."
        )
    };
    Err(Error::Lock {
        path: Lock::path(dir),
        message: format!(
            "written with templates {needed}, newer than the templates {available} this shipready {ours} has; \
             rendering them would undo template changes. {how}"
        ),
    })
}

/// Compare dotted numeric versions ("1.10.0" > "1.9.3"); a pre-release or
/// build suffix is ignored, missing parts count as 0, and parts that are not
/// numbers compare as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parts(v: &str) -> Vec<&str> {
        let core = v.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next().unwrap_or("");
        core.split('.').collect()
    }
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).copied().unwrap_or("0");
        let y = pb.get(i).copied().unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10.0", "1.9.3"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("2.0.0-rc.1", "2.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("v1.2.0", "1.1.9"), Ordering::Greater);
    }

    #[test]
    fn a_writer_waits_for_a_reader_of_the_same_tree() {
        let d = tempfile::tempdir().unwrap();
        let reader = run_lock(d.path(), Access::Read).unwrap().unwrap();
        let other = File::open(d.path()).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        other.try_lock_shared().unwrap();
        drop(reader);
        other.unlock().unwrap();
        run_lock(d.path(), Access::Write).unwrap();
    }
}
