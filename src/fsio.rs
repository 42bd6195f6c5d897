//! Reading and writing inside the target directory, safely.
//!
//! Writes go to a temp file in the destination's own directory and are then
//! renamed over the destination, so a reader sees the old file or the new one,
//! never half of either. Every path is checked component by component: a
//! symlink whose target leaves the target directory is refused, and so is a
//! symlink as the file itself (renaming over it would silently replace the
//! link the team put there).

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// Check that writing `rel` under `root` stays inside `root`.
pub fn check_path(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let rel_path = Path::new(rel);
    if rel_path.is_absolute()
        || rel_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::UnsafePath {
            path: rel_path.to_path_buf(),
            reason: "not a plain relative path".into(),
        });
    }
    let mut cur = root.to_path_buf();
    let components: Vec<_> = rel_path.components().collect();
    for (i, c) in components.iter().enumerate() {
        cur.push(c);
        let meta = match std::fs::symlink_metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io(&cur, e)),
        };
        if meta.file_type().is_symlink() {
            let last = i + 1 == components.len();
            let target = cur.canonicalize().ok();
            // Resolved only here: canonicalising costs a syscall per
            // component of the absolute path, and links are rare.
            let root_real = root.canonicalize().map_err(|e| Error::io(root, e))?;
            let inside = target.as_ref().is_some_and(|t| t.starts_with(&root_real));
            if last {
                return Err(Error::UnsafePath {
                    path: cur.clone(),
                    reason: format!(
                        "it is a symbolic link (to {}). Replace the link with a regular file, or remove it.",
                        target.map(|t| t.display().to_string()).unwrap_or_else(|| "a missing target".into())
                    ),
                });
            }
            if !inside {
                return Err(Error::UnsafePath {
                    path: cur.clone(),
                    reason: format!(
                        "{} is a symbolic link that leads outside {}",
                        cur.display(),
                        root.display()
                    ),
                });
            }
        } else if i + 1 < components.len() && !meta.is_dir() {
            return Err(Error::UnsafePath {
                path: cur.clone(),
                reason: "a file stands where a directory is needed".into(),
            });
        }
    }
    Ok(root.join(rel_path))
}

/// The contents of `rel` under `root`, or `None` if there is no such file.
/// Bytes that are not UTF-8 are shown as replacement characters (such a file
/// never equals a render, so it is reported, not overwritten).
pub fn read_existing(root: &Path, rel: &str) -> Result<Option<String>, Error> {
    let path = check_path(root, rel)?;
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(Error::UnsafePath {
            path,
            reason: "a directory stands where a file is needed".into(),
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// [`read_existing`] for each of `rels`, in order, spread over the cores
/// (a plan reads every file shipready manages).
pub fn read_many(root: &Path, rels: &[&str]) -> Result<Vec<Option<String>>, Error> {
    crate::parallel::try_map(rels, |rel| read_existing(root, rel))
}

/// Write `contents` to `rel` under `root` atomically, with `mode`.
pub fn write_atomic(root: &Path, rel: &str, contents: &str, mode: u32) -> Result<(), Error> {
    let path = check_path(root, rel)?;
    let dir = path.parent().expect("a relative file path has a parent");
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Re-check: create_dir_all may have walked a link made in between.
        check_path(root, rel)?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".shipready-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(contents.as_bytes())
        .map_err(|e| Error::io(&path, e))?;
    set_mode(tmp.as_file(), mode).map_err(|e| Error::io(&path, e))?;
    tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    Ok(())
}

/// Remove `rel` under `root` (used for orphaned files).
pub fn remove(root: &Path, rel: &str) -> Result<(), Error> {
    let path = check_path(root, rel)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(unix)]
fn set_mode(f: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &std::fs::File, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_sets_mode() {
        let d = tempfile::tempdir().unwrap();
        write_atomic(d.path(), "a/b/run.sh", "#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("a/b/run.sh")).unwrap(),
            "#!/bin/sh\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(d.path().join("a/b/run.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o755);
        }
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("a/b")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_links_out_of_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("deploy")).unwrap();
        let err = write_atomic(d.path(), "deploy/x.conf", "x", 0o644).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // A link inside the root is fine for directories.
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink(d.path().join("real"), d.path().join("alias")).unwrap();
        write_atomic(d.path(), "alias/x.conf", "x", 0o644).unwrap();
        assert!(d.path().join("real/x.conf").exists());
    }

    #[test]
    fn rejects_parent_components() {
        let d = tempfile::tempdir().unwrap();
        assert!(check_path(d.path(), "../x").is_err());
        assert!(check_path(d.path(), "/etc/passwd").is_err());
    }
}
