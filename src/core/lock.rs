//! The lock: `shipready.toml` says what the last render was made from and
//! what it produced; `.shipready/base/` keeps that render's text per file.
//!
//! `shipready.toml` holds the resolved profile (so `diff` and `update`
//! re-render without asking again), the template version and, per managed
//! file, the hash and mode of its last render: small enough to review. The
//! last render itself (the base of a three-way merge, so merges never depend
//! on git history) lives in one file per managed file under `.shipready/base/`:
//! git stores a base that equals the file once, two branches that update
//! different files touch different bases and merge cleanly, and review tools
//! fold the folder away (`.shipready/.gitattributes` marks it generated).
//!
//! The lock is trusted only as far as it can be checked: every managed path
//! must be one the catalog can produce, and a base must match its hash.
//! Schema 1 locks (bases inline in `shipready.toml`) are still read; the next
//! `init` or `update` writes them out as schema 2.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::core::catalog;
use crate::core::fsio;
use crate::core::text::hash;
use crate::error::Error;
use crate::profile::Profile;

pub const LOCK_FILE: &str = "shipready.toml";
/// Where the last render of every managed file is kept.
pub const STATE_DIR: &str = ".shipready";
pub const BASE_DIR: &str = ".shipready/base";
/// Marks the state folder as generated for git hosts and keeps its files
/// out of line-ending conversion.
pub const STATE_ATTRIBUTES: &str = ".shipready/.gitattributes";
pub const STATE_ATTRIBUTES_TEXT: &str = "\
# Written by shipready: the last render of each file it manages, the base of
# `shipready update`'s three-way merge. Commit it; do not edit it.
* linguist-generated=true -text
";
/// Bumped when the lock's own layout changes.
pub const LOCK_SCHEMA: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub schema: u32,
    /// shipready version that wrote the lock.
    pub shipready_version: String,
    /// Version of the template set the files were rendered from.
    pub template_version: String,
    /// Preset the profile started from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub profile: Profile,
    /// Output path → what was last rendered there.
    pub files: BTreeMap<String, LockedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    /// sha256 of the last render (LF line endings).
    pub sha256: String,
    /// Octal permission bits, e.g. "755".
    pub mode: String,
    /// Schema 1 kept the last render here; read, never written.
    #[serde(default, skip_serializing)]
    pub base: Option<String>,
}

impl LockedFile {
    pub fn new(base: &str, mode: u32) -> LockedFile {
        LockedFile {
            sha256: hash(base),
            mode: format!("{mode:o}"),
            base: None,
        }
    }

    pub fn mode_bits(&self) -> Option<u32> {
        u32::from_str_radix(&self.mode, 8).ok()
    }
}

/// Where the base of managed file `path` is kept.
pub fn base_path(path: &str) -> String {
    format!("{BASE_DIR}/{path}")
}

impl Lock {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(LOCK_FILE)
    }

    /// Read the lock in `dir`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Lock>, Error> {
        match fsio::read_existing(dir, LOCK_FILE)? {
            Some(text) => Lock::parse(&text, dir).map(Some),
            None => Ok(None),
        }
    }

    /// The lock `text` read from `dir`, checked as far as it can be.
    pub fn parse(text: &str, dir: &Path) -> Result<Lock, Error> {
        let path = Lock::path(dir);
        let damaged = |message: String| Error::Lock {
            path: path.clone(),
            message: format!(
                "{message}\nThe lock file is damaged. Restore it from version control \
                 (git checkout -- {LOCK_FILE} {STATE_DIR})."
            ),
        };
        crate::profile::Profile::check_locked(text, &path, LOCK_SCHEMA)?;
        let lock: Lock = toml::from_str(text).map_err(|e| damaged(e.to_string()))?;
        if lock.schema > LOCK_SCHEMA {
            return Err(Error::Lock {
                path,
                message: format!(
                    "written by shipready {} (lock schema {}); this is shipready {} (schema {LOCK_SCHEMA}). \
                     Install a newer shipready: cargo install shipready --version {} (or newer).",
                    lock.shipready_version,
                    lock.schema,
                    env!("CARGO_PKG_VERSION"),
                    lock.shipready_version
                ),
            });
        }
        for (p, f) in &lock.files {
            let hex = f.sha256.len() == 64 && f.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex || f.mode_bits().is_none() {
                return Err(damaged(format!(
                    "files.{p:?}: not a sha256 and an octal mode"
                )));
            }
            if let Some(base) = &f.base {
                if hash(base) != f.sha256 {
                    return Err(damaged(format!(
                        "files.{p:?}: its base does not match its sha256"
                    )));
                }
            }
        }
        Ok(lock)
    }

    /// Refuse a lock that names files the catalog cannot produce: shipready
    /// will not manage, replace or delete them. Checked after the template
    /// version, so a lock from a newer shipready (whose catalog has more
    /// files) gets the "install a newer shipready" message instead.
    pub fn check_paths(&self, dir: &Path) -> Result<(), Error> {
        let foreign: Vec<&str> = self
            .files
            .keys()
            .map(String::as_str)
            .filter(|p| !catalog::can_produce(p))
            .collect();
        if foreign.is_empty() {
            return Ok(());
        }
        Err(Error::Lock {
            path: Lock::path(dir),
            message: format!(
                "it lists files shipready never generates: {}. shipready will not manage, \
                 replace or delete them.\nThe lock file is damaged. Restore it from version \
                 control (git checkout -- {LOCK_FILE} {STATE_DIR}).",
                foreign.join(", ")
            ),
        })
    }

    /// The last render of `path`: from `.shipready/base/` (or a schema 1
    /// lock), checked against the recorded hash. `Ok(None)` when no base was
    /// kept: a merge then treats every line as changed on both sides, so
    /// nothing is lost.
    pub fn base(&self, dir: &Path, path: &str) -> Result<Option<String>, Error> {
        let Some(entry) = self.files.get(path) else {
            return Ok(None);
        };
        if let Some(inline) = &entry.base {
            return Ok(Some(inline.clone()));
        }
        let text = fsio::read_existing(dir, &base_path(path))?;
        self.checked_base(dir, path, text)
    }

    /// [`Lock::base`] of each of `paths`, in order; the kept bases are read
    /// together, over the cores.
    pub fn bases(&self, dir: &Path, paths: &[&str]) -> Result<Vec<Option<String>>, Error> {
        let kept: Vec<String> = paths
            .iter()
            .filter(|p| self.files.get(**p).is_some_and(|e| e.base.is_none()))
            .map(|p| base_path(p))
            .collect();
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        let mut read = fsio::read_many(dir, &kept)?.into_iter();
        paths
            .iter()
            .map(|path| {
                let Some(entry) = self.files.get(*path) else {
                    return Ok(None);
                };
                if let Some(inline) = &entry.base {
                    return Ok(Some(inline.clone()));
                }
                let text = read.next().expect("one read per kept base");
                self.checked_base(dir, path, text)
            })
            .collect()
    }

    /// `text`, read as the base of `path`, if it matches the recorded hash.
    fn checked_base(
        &self,
        dir: &Path,
        path: &str,
        text: Option<String>,
    ) -> Result<Option<String>, Error> {
        let (Some(text), Some(entry)) = (text, self.files.get(path)) else {
            return Ok(None);
        };
        if hash(&text) != entry.sha256 {
            return Err(Error::Lock {
                path: dir.join(base_path(path)),
                message: format!(
                    "does not match the sha256 {LOCK_FILE} records for {path}; it was edited or \
                     belongs to another lock. Restore both from version control \
                     (git checkout -- {LOCK_FILE} {STATE_DIR})."
                ),
            });
        }
        Ok(Some(text))
    }

    /// The lock as written to disk: a short header, then TOML.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("the lock serialises");
        format!(
            "# shipready lock file: the profile and a hash of the last render of every file\n\
             # shipready manages (the renders are in {STATE_DIR}/). Commit both. `shipready diff`\n\
             # and `shipready update` read them; change answers with\n\
             # `shipready update --set key=value` rather than by hand.\n\n{body}"
        )
    }
}
