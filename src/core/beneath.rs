//! Opening paths strictly beneath the target directory, on Linux.
//!
//! Checking a path and then using it leaves a window: a directory on the
//! path can be swapped for a symbolic link to elsewhere in between, and the
//! write follows it. Here every directory is opened once, by `openat2` with
//! `RESOLVE_BENEATH`, so the kernel refuses any resolution that would leave
//! the root (through `..`, an absolute link, or a link to outside), and
//! every later create, rename and unlink is made relative to that open
//! directory: swapping a path component afterwards changes nothing.
//!
//! `openat2` arrived in Linux 5.6, and some sandboxes filter it. Where it is
//! missing, [`available`] says so once and `fsio` falls back to its
//! check-then-use path operations.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// Why a path could not be opened beneath the root.
#[derive(Debug)]
pub enum Refusal {
    /// Resolving it would leave the root.
    Escapes,
    /// Something other than a directory stands on the path, or a symbolic
    /// link stands where the file goes.
    NotDirectory,
    Io(std::io::Error),
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        match e {
            Errno::XDEV => Refusal::Escapes,
            Errno::NOTDIR | Errno::LOOP => Refusal::NotDirectory,
            e => Refusal::Io(e.into()),
        }
    }
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
/// For clean-up (stray temp files, emptied directories): no link at all is
/// followed, even one that stays inside; a link found there is left alone.
const RESOLVE_NO_LINKS: ResolveFlags = RESOLVE.union(ResolveFlags::NO_SYMLINKS);

/// Whether this kernel (and sandbox) offers `openat2`; asked once.
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        !matches!(
            rfs::openat2(
                CWD,
                ".",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                RESOLVE,
            ),
            Err(Errno::NOSYS | Errno::PERM)
        )
    })
}

/// The target directory, held open.
pub struct Root(OwnedFd);

impl Root {
    pub fn open(root: &Path) -> std::io::Result<Root> {
        let fd = rfs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root(fd))
    }

    /// The directory `rel` ("" for the root itself), resolved beneath the
    /// root. Opened for reading, so it can be listed.
    pub fn dir(&self, rel: &str) -> Result<OwnedFd, Refusal> {
        self.dir_with(rel, RESOLVE)
    }

    fn dir_with(&self, rel: &str, resolve: ResolveFlags) -> Result<OwnedFd, Refusal> {
        let rel = if rel.is_empty() { "." } else { rel };
        Ok(rfs::openat2(
            &self.0,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )?)
    }

    /// Remove the temp files (names starting with `prefix`) a killed run
    /// left in directory `rel`; the number removed. No link is followed on
    /// the way, and only regular files are removed.
    pub fn sweep(&self, rel: &str, prefix: &str) -> Result<usize, Refusal> {
        let mut listing = rfs::Dir::new(self.dir_with(rel, RESOLVE_NO_LINKS)?)?;
        let mut stray = Vec::new();
        while let Some(entry) = listing.read() {
            let entry = entry?;
            let name = entry.file_name();
            if !name.to_bytes().starts_with(prefix.as_bytes()) {
                continue;
            }
            let regular = match entry.file_type() {
                FileType::Unknown => rfs::statat(listing.fd()?, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile),
                t => t == FileType::RegularFile,
            };
            if regular {
                stray.push(name.to_owned());
            }
        }
        let dir = listing.fd()?;
        Ok(stray
            .iter()
            .filter(|name| rfs::unlinkat(dir, name.as_c_str(), AtFlags::empty()).is_ok())
            .count())
    }

    /// Remove the directory `rel` if it is empty. Its parent is reached
    /// without following any link, and a link standing at `rel` itself is
    /// not a directory: neither is followed.
    pub fn remove_empty_dir(&self, rel: &str) -> Result<(), Refusal> {
        let (parent, name) = split(rel);
        let parent = self.dir_with(parent, RESOLVE_NO_LINKS)?;
        Ok(rfs::unlinkat(&parent, name, AtFlags::REMOVEDIR)?)
    }

    /// [`Root::dir`], creating what is missing, one directory at a time
    /// (each made inside its already-open parent). Returns the directory and
    /// the relative paths it created, outermost first.
    pub fn make_dir(&self, rel: &str) -> Result<(OwnedFd, Vec<String>), Refusal> {
        match self.dir(rel) {
            Ok(fd) => return Ok((fd, Vec::new())),
            Err(Refusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut fd = self.dir("")?;
        let mut prefix = String::new();
        let mut created = Vec::new();
        for part in rel.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.dir(&prefix) {
                Ok(next) => fd = next,
                Err(Refusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    match rfs::mkdirat(&fd, part, Mode::from_raw_mode(0o755)) {
                        Ok(()) => created.push(prefix.clone()),
                        Err(Errno::EXIST) => {} // made by someone else meanwhile
                        Err(e) => return Err(e.into()),
                    }
                    // Opened from its parent without following a link: a
                    // link swapped in since the mkdir is refused.
                    fd = rfs::openat(
                        &fd,
                        part,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok((fd, created))
    }

    /// Open the regular file `rel` for reading, beneath the root, never
    /// following a link at the last step and never blocking on a FIFO.
    pub fn open_read(&self, rel: &str) -> Result<File, Refusal> {
        let fd = rfs::openat2(
            &self.0,
            rel,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )?;
        Ok(File::from(fd))
    }
}

/// A file written in full inside an open directory, under a temp name.
pub struct StagedAt {
    dir: Arc<OwnedFd>,
    tmp: String,
    name: String,
    committed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `contents` with `mode` to a new temp file (named with `prefix`) in
/// `dir`, to be renamed to `name` there. A link standing at `name` is
/// refused: renaming over it would replace the link the team put there.
pub fn stage_at(
    dir: Arc<OwnedFd>,
    name: &str,
    prefix: &str,
    contents: &[u8],
    mode: u32,
) -> Result<StagedAt, Refusal> {
    match rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            return Err(Refusal::NotDirectory)
        }
        _ => {}
    }
    static PID: OnceLock<u32> = OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    let (fd, tmp) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{prefix}{pid}-{n}");
        match rfs::openat(
            &dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => break (fd, tmp),
            Err(Errno::EXIST) => continue, // a killed run's leftover
            Err(e) => return Err(e.into()),
        }
    };
    // Made first, so that a failed write is unlinked when it drops.
    let staged = StagedAt {
        dir,
        tmp,
        name: name.to_string(),
        committed: false,
    };
    // Closed here: nothing syncs it later, so no descriptor is held per
    // staged file until the renames.
    let mut file = File::from(fd);
    file.write_all(contents)
        .and_then(|()| rfs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(Into::into))
        .map_err(Refusal::Io)?;
    Ok(staged)
}

impl StagedAt {
    /// Rename into place inside the directory opened at staging.
    pub fn commit(mut self) -> std::io::Result<()> {
        rfs::renameat(&self.dir, self.tmp.as_str(), &self.dir, self.name.as_str())?;
        self.committed = true;
        Ok(())
    }

    fn discard(&mut self) {
        if !self.committed {
            let _ = rfs::unlinkat(&self.dir, self.tmp.as_str(), AtFlags::empty());
            self.committed = true;
        }
    }
}

impl Drop for StagedAt {
    fn drop(&mut self) {
        self.discard();
    }
}

/// Remove the file `name` from the open directory `dir`.
pub fn remove_at(dir: &OwnedFd, name: &str) -> std::io::Result<()> {
    rfs::unlinkat(dir, name, AtFlags::empty()).map_err(Into::into)
}

/// Split `rel` into its directory ("" for the root) and file name.
pub fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}
