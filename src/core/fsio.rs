//! Reading and writing inside the target directory, safely.
//!
//! Writes go to a temp file in the destination's own directory and are then
//! renamed over the destination, so a reader sees the old file or the new one,
//! never half of either. Every path is checked component by component: a
//! symlink whose target leaves the target directory is refused, and so is a
//! symlink as the file itself (renaming over it would silently replace the
//! link the team put there).
//!
//! On Linux the checked path is then used through directories opened
//! beneath the root (`beneath`), so a link swapped in after the check is
//! refused by the kernel rather than followed.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

#[cfg(target_os = "linux")]
use crate::core::beneath::{self, Refusal};
use crate::error::Error;

/// Refuse an absolute path or one with `.` or `..` in it: the one check
/// made before every access, by spelling alone.
fn check_plain(rel: &str) -> Result<(), Error> {
    let rel_path = Path::new(rel);
    if rel.is_empty()
        || rel_path.is_absolute()
        || rel_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::UnsafePath {
            path: rel_path.to_path_buf(),
            reason: "not a plain relative path".into(),
        });
    }
    Ok(())
}

/// Check that writing `rel` under `root` stays inside `root`, component by
/// component, by path. Where `openat2` is available the kernel enforces
/// this on every access and this check only explains a refusal; elsewhere
/// it runs before every access.
pub fn check_path(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    check_plain(rel)?;
    let rel_path = Path::new(rel);
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
/// never equals a render, so it is reported, not overwritten). A FIFO,
/// socket or device is refused: reading one would hang or worse.
pub fn read_existing(root: &Path, rel: &str) -> Result<Option<String>, Error> {
    At::open(root)?.read(rel)
}

/// [`read_existing`] for each of `rels`, in order, spread over the cores
/// (a plan reads every file shipready manages); the root is opened once.
pub fn read_many(root: &Path, rels: &[&str]) -> Result<Vec<Option<String>>, Error> {
    let at = At::open(root)?;
    crate::core::parallel::try_map(rels, |rel| at.read(rel))
}

/// How paths under one root are reached.
enum Via {
    /// Through the root held open, resolved by the kernel beneath it.
    #[cfg(target_os = "linux")]
    Beneath(beneath::Root),
    /// The root does not exist: nothing under it does either.
    Missing,
    /// By checked path, where `openat2` is missing.
    Path,
}

/// A root and the way to reach paths under it.
struct At<'a> {
    root: &'a Path,
    via: Via,
}

impl<'a> At<'a> {
    fn open(root: &'a Path) -> Result<At<'a>, Error> {
        #[cfg(target_os = "linux")]
        if beneath::available() {
            let via = match beneath::Root::open(root) {
                Ok(open) => Via::Beneath(open),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Via::Missing,
                Err(e) => return Err(Error::io(root, e)),
            };
            return Ok(At { root, via });
        }
        Ok(At {
            root,
            via: Via::Path,
        })
    }

    fn read(&self, rel: &str) -> Result<Option<String>, Error> {
        check_plain(rel)?;
        let path = self.root.join(rel);
        let file = match &self.via {
            #[cfg(target_os = "linux")]
            Via::Beneath(open) => match beneath_retry(self.root, rel, |r| open.open_read(r)) {
                Ok(f) => f,
                Err(Refusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(r) => return Err(explain(self.root, rel, r)),
            },
            Via::Missing => return Ok(None),
            Via::Path => {
                check_path(self.root, rel)?;
                match open_read_by_path(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(path, e)),
                }
            }
        };
        // Checked on the handle, so nothing can be swapped in between.
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            return Err(Error::UnsafePath {
                path,
                reason: "a directory stands where a file is needed".into(),
            });
        }
        if !meta.is_file() {
            return Err(Error::UnsafePath {
                path,
                reason:
                    "a special file (FIFO, socket or device) stands where a file is needed; remove it"
                        .into(),
            });
        }
        // Sized from the handle's metadata already at hand (`File`'s own
        // read_to_end would stat and seek again for each file).
        let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
        std::io::Read::read_to_end(&mut std::io::Read::take(&file, u64::MAX), &mut bytes)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }))
    }
}

/// Open `path` for reading, non-blocking, so a FIFO put there cannot hang
/// the open itself.
fn open_read_by_path(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Prefix of every temp file shipready makes; a run that was killed can
/// leave one behind, and the next writing run removes it.
pub const TEMP_PREFIX: &str = ".shipready-";

/// A file written in full beside its destination, not yet in place.
pub struct Staged {
    pub dest: PathBuf,
    tmp: Temp,
}

enum Temp {
    /// In a directory held open beneath the root.
    #[cfg(target_os = "linux")]
    At(beneath::StagedAt),
    /// By path, where `openat2` is missing.
    Path(tempfile::NamedTempFile),
}

impl Staged {
    /// Rename into place: readers see the old file or the new one.
    pub fn commit(self) -> Result<(), Error> {
        match self.tmp {
            #[cfg(target_os = "linux")]
            Temp::At(t) => t.commit().map_err(|e| Error::io(&self.dest, e)),
            Temp::Path(t) => t
                .persist(&self.dest)
                .map(drop)
                .map_err(|e| Error::io(&self.dest, e.error)),
        }
    }
}

/// `rel` with every link on its existing part resolved, relative to the
/// resolved root: the kernel refuses absolute links under `RESOLVE_BENEATH`
/// even when they point inside the tree, which `check_path` allows. The
/// result is opened beneath the root again, so a link swapped in meanwhile
/// is still refused.
#[cfg(target_os = "linux")]
fn without_links(root: &Path, rel: &str) -> Option<String> {
    let root_real = root.canonicalize().ok()?;
    let mut existing = root.join(rel);
    let mut rest = Vec::new();
    let real = loop {
        match existing.canonicalize() {
            Ok(p) => break p,
            Err(_) => {
                rest.push(existing.file_name()?.to_os_string());
                existing = existing.parent()?.to_path_buf();
            }
        }
    };
    let mut inside = real.strip_prefix(&root_real).ok()?.to_path_buf();
    inside.extend(rest.iter().rev());
    inside.to_str().map(str::to_string)
}

/// Run `open` on `rel`, and once more on its link-free spelling if the
/// kernel saw an absolute link.
#[cfg(target_os = "linux")]
fn beneath_retry<T>(
    root: &Path,
    rel: &str,
    open: impl Fn(&str) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    match open(rel) {
        Err(Refusal::Escapes) => match without_links(root, rel) {
            Some(plain) if plain != rel => open(&plain),
            _ => Err(Refusal::Escapes),
        },
        other => other,
    }
}

/// The error for the file `rel` the kernel refused to reach beneath the
/// root: `check_path`'s account of what stands in the way where it finds
/// one (the refusal is rare, so the path walk is paid only then), else the
/// refusal itself.
#[cfg(target_os = "linux")]
fn explain(root: &Path, rel: &str, r: Refusal) -> Error {
    if let Err(e) = check_path(root, rel) {
        return e;
    }
    let path = root.join(rel);
    match r {
        Refusal::Io(e) => Error::io(path, e),
        Refusal::Escapes => Error::UnsafePath {
            reason: format!("it leads outside {} (through a symbolic link)", root.display()),
            path,
        },
        Refusal::NotDirectory => Error::UnsafePath {
            path,
            reason: "a file or symbolic link stands where a directory or file is needed (it changed while shipready ran)".into(),
        },
    }
}

/// Writes one batch of files under a root: each directory is made and
/// opened once, however many files go in it, and stays open until every
/// file in it is renamed.
pub struct Stager<'a> {
    root: &'a Path,
    via: Via,
    #[cfg(target_os = "linux")]
    dirs: std::collections::HashMap<String, std::sync::Arc<std::os::fd::OwnedFd>>,
    /// Directories made for the batch (relative), outermost first.
    pub created: Vec<String>,
}

impl<'a> Stager<'a> {
    pub fn new(root: &'a Path) -> Result<Stager<'a>, Error> {
        let at = At::open(root)?;
        if matches!(at.via, Via::Missing) {
            return Err(Error::io(
                root,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        Ok(Stager {
            root,
            via: at.via,
            #[cfg(target_os = "linux")]
            dirs: Default::default(),
            created: Vec::new(),
        })
    }

    /// Check `rel` and make the directories it needs; call before
    /// [`Stager::stage`] for the same path.
    pub fn prepare(&mut self, rel: &str) -> Result<(), Error> {
        check_plain(rel)?;
        let (dir, _) = split(rel);
        match &self.via {
            #[cfg(target_os = "linux")]
            Via::Beneath(open) => {
                if !self.dirs.contains_key(dir) {
                    let (fd, made) = beneath_retry(self.root, dir, |d| open.make_dir(d))
                        .map_err(|r| explain(self.root, rel, r))?;
                    self.created.extend(made);
                    self.dirs.insert(dir.to_string(), std::sync::Arc::new(fd));
                }
                Ok(())
            }
            _ => ensure_parent_by_path(self.root, rel, &mut self.created),
        }
    }

    /// Write `contents` with `mode` to a temp file in `rel`'s directory.
    pub fn stage(&self, rel: &str, contents: &str, mode: u32) -> Result<Staged, Error> {
        let dest = self.root.join(rel);
        let (dir, name) = split(rel);
        match &self.via {
            #[cfg(target_os = "linux")]
            Via::Beneath(_) => {
                let dir = self.dirs.get(dir).expect("prepared before staging").clone();
                let tmp = beneath::stage_at(dir, name, TEMP_PREFIX, contents.as_bytes(), mode)
                    .map_err(|r| explain(self.root, rel, r))?;
                Ok(Staged {
                    dest,
                    tmp: Temp::At(tmp),
                })
            }
            _ => {
                // A link at the file itself is refused here as well.
                check_path(self.root, rel)?;
                let dir = self.root.join(dir);
                let mut tmp = tempfile::Builder::new()
                    .prefix(TEMP_PREFIX)
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(&dir, e))?;
                tmp.write_all(contents.as_bytes())
                    .map_err(|e| Error::io(&dest, e))?;
                set_mode(tmp.as_file(), mode).map_err(|e| Error::io(&dest, e))?;
                Ok(Staged {
                    dest,
                    tmp: Temp::Path(tmp),
                })
            }
        }
    }
}

/// Create the directories `rel` needs under `root` by path, pushing each
/// one made (relative) onto `created`.
fn ensure_parent_by_path(root: &Path, rel: &str, created: &mut Vec<String>) -> Result<(), Error> {
    let path = check_path(root, rel)?;
    let dir = path.parent().expect("a relative file path has a parent");
    if !dir.is_dir() {
        let mut missing = Vec::new();
        let mut d = dir;
        while !d.exists() && d != root {
            missing.push(d.to_path_buf());
            d = d.parent().unwrap_or(root);
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        created.extend(missing.into_iter().rev().filter_map(|d| {
            d.strip_prefix(root)
                .ok()
                .and_then(Path::to_str)
                .map(str::to_string)
        }));
        // Re-check: create_dir_all may have walked a link made in between.
        check_path(root, rel)?;
    }
    Ok(())
}

/// Write `contents` to a temp file in `rel`'s directory under `root`, with
/// `mode`; directories it had to create are pushed onto `created`.
pub fn stage(
    root: &Path,
    rel: &str,
    contents: &str,
    mode: u32,
    created: &mut Vec<String>,
) -> Result<Staged, Error> {
    let mut stager = Stager::new(root)?;
    let prepared = stager.prepare(rel);
    created.append(&mut stager.created);
    prepared?;
    stager.stage(rel, contents, mode)
}

/// Remove the file `rel` under `root`; a file already gone is not an error.
pub fn remove_file(root: &Path, rel: &str) -> Result<(), Error> {
    check_plain(rel)?;
    let path = root.join(rel);
    let gone = match At::open(root)?.via {
        #[cfg(target_os = "linux")]
        Via::Beneath(open) => {
            let (dir, name) = split(rel);
            match beneath_retry(root, dir, |d| open.dir(d)) {
                Ok(fd) => beneath::remove_at(&fd, name),
                Err(Refusal::Io(e)) => Err(e),
                Err(r) => return Err(explain(root, rel, r)),
            }
        }
        Via::Missing => return Ok(()),
        Via::Path => {
            check_path(root, rel)?;
            std::fs::remove_file(&path)
        }
    };
    match gone {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Write `contents` to `rel` under `root` atomically, with `mode`.
pub fn write_atomic(root: &Path, rel: &str, contents: &str, mode: u32) -> Result<(), Error> {
    let mut stager = Stager::new(root)?;
    stager.prepare(rel)?;
    stager.stage(rel, contents, mode)?.commit()
}

/// Remove temp files a killed run left in `dirs` (relative to `root`).
/// Call only while holding the project's write lock: another run's temp
/// files are never stray. No link is followed to reach a directory: a
/// temp file there is left for a run that reaches it directly.
pub fn sweep_temps<'a>(root: &Path, dirs: impl IntoIterator<Item = &'a str>) -> usize {
    let Ok(at) = At::open(root) else { return 0 };
    let mut removed = 0;
    for dir in dirs {
        match &at.via {
            #[cfg(target_os = "linux")]
            Via::Beneath(open) => {
                // A directory that does not exist holds no temp file.
                removed += open.sweep(dir, TEMP_PREFIX).unwrap_or(0);
            }
            Via::Missing => {}
            Via::Path => removed += sweep_by_path(root, dir),
        }
    }
    removed
}

fn sweep_by_path(root: &Path, dir: &str) -> usize {
    let dir = root.join(dir);
    let linked = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    if linked {
        return 0;
    }
    entries
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && e.file_type().is_ok_and(|t| t.is_file())
                && std::fs::remove_file(e.path()).is_ok()
        })
        .count()
}

/// Remove the directories `dirs` (relative to `root`) that are empty,
/// deepest first; others stay. No link is followed, at the directory or on
/// the way to it.
pub fn remove_empty_dirs(root: &Path, dirs: &[String]) {
    let mut sorted: Vec<&str> = dirs.iter().map(String::as_str).collect();
    sorted.sort_by_key(|d| (std::cmp::Reverse(d.matches('/').count()), *d));
    sorted.dedup();
    let Ok(at) = At::open(root) else { return };
    for d in sorted {
        if check_plain(d).is_err() {
            continue;
        }
        // Fails, as it should, when not empty.
        match &at.via {
            #[cfg(target_os = "linux")]
            Via::Beneath(open) => drop(open.remove_empty_dir(d)),
            Via::Missing => {}
            Via::Path => {
                if check_path(root, d).is_ok() && !Path::new(root).join(d).is_symlink() {
                    let _ = std::fs::remove_dir(root.join(d));
                }
            }
        }
    }
}

/// Split `rel` into its directory ("" for the root) and file name.
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
#[cfg(unix)]
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn free_bytes(_: &Path) -> Option<u64> {
    None
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

    /// The race `check_path` alone cannot close: the directory is swapped
    /// for a link to outside after the file was staged. The rename happens
    /// in the directory that was opened, so nothing lands outside.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_swapped_for_a_link_mid_run_is_not_followed() {
        assert!(beneath::available(), "this kernel lacks openat2");
        let outside = tempfile::tempdir().unwrap();
        let d = tempfile::tempdir().unwrap();
        let staged = stage(d.path(), "deploy/x.conf", "x", 0o644, &mut Vec::new()).unwrap();
        std::fs::rename(d.path().join("deploy"), d.path().join("deploy.moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("deploy")).unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_to_string(d.path().join("deploy.moved/x.conf")).unwrap(),
            "x"
        );
        // And a run starting now refuses the link, for writes, reads and removals.
        let err = write_atomic(d.path(), "deploy/y.conf", "y", 0o644).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
        std::fs::write(outside.path().join("z"), "keep").unwrap();
        assert!(remove_file(d.path(), "deploy/z").is_err());
        assert!(outside.path().join("z").exists());
    }

    /// Past the check, the kernel itself refuses a link that leaves the
    /// root, wherever on the path it stands.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_refuses_resolution_outside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("a/out")).unwrap();
        let root = beneath::Root::open(d.path()).unwrap();
        assert!(matches!(root.dir("a/out"), Err(Refusal::Escapes)));
        assert!(matches!(root.make_dir("a/out/b"), Err(Refusal::Escapes)));
        assert!(matches!(root.open_read("a/out/z"), Err(Refusal::Escapes)));
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn rejects_parent_components() {
        let d = tempfile::tempdir().unwrap();
        assert!(check_path(d.path(), "../x").is_err());
        assert!(check_path(d.path(), "/etc/passwd").is_err());
    }
}
