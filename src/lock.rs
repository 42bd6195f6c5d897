//! The lock file, `shipready.toml`: what the last render was made from and
//! what it produced.
//!
//! It holds the resolved profile (so `diff` and `update` re-render without
//! asking again), the template version, and per file the rendered base
//! content with its hash. The base is what makes a 3-way merge possible
//! without relying on git history (cruft's merge fails when git lacks the old
//! blob); ownership lives here rather than in file headers.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::profile::Profile;

pub const LOCK_FILE: &str = "shipready.toml";
/// Bumped when the lock's own layout changes.
pub const LOCK_SCHEMA: u32 = 1;

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
    /// sha256 of `base` (LF line endings).
    pub sha256: String,
    /// Octal permission bits, e.g. "755".
    pub mode: String,
    /// The content last rendered to this path.
    pub base: String,
}

impl LockedFile {
    pub fn new(base: &str, mode: u32) -> LockedFile {
        LockedFile {
            sha256: hash(base),
            mode: format!("{mode:o}"),
            base: base.to_string(),
        }
    }
}

/// Hash of text with CRLF folded to LF, so a checkout with Windows line
/// endings is not mistaken for an edit.
pub fn hash(text: &str) -> String {
    let digest = Sha256::digest(normalize_newlines(text).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn normalize_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

impl Lock {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(LOCK_FILE)
    }

    /// Read the lock in `dir`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Lock>, Error> {
        let path = Lock::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        crate::profile::Profile::check_locked(&text, &path)?;
        let lock: Lock = toml::from_str(&text).map_err(|e| Error::Lock {
            path: path.clone(),
            message: format!(
                "{}\nThe lock file is damaged. Restore it from version control (git checkout -- {LOCK_FILE}).",
                e.message().trim()
            ),
        })?;
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
        Ok(Some(lock))
    }

    /// The lock as written to disk: a short header, then TOML.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("the lock serialises");
        format!(
            "# shipready lock file: the profile and the last render of every file shipready manages.\n\
             # Commit it. `shipready diff` and `shipready update` read it; change answers with\n\
             # `shipready update --set key=value` rather than by hand.\n\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_does_not_change_the_hash() {
        assert_eq!(hash("a\r\nb\r\n"), hash("a\nb\n"));
        assert_ne!(hash("a\nb\n"), hash("a\nc\n"));
    }
}
