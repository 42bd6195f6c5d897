//! A detected value with the file and line it came from, and how sure
//! detection is of it.

use serde::Serialize;

/// How a value was found: a manifest entry is certain, a pattern in source
/// code or a library's default path is a guess worth checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Declared in a manifest, lock, compose file or Terraform.
    High,
    /// Inferred from source code or a library's usual default.
    Medium,
    /// Nothing better: e.g. the directory's name.
    Low,
}

/// A detected value and why it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected<T> {
    pub value: T,
    /// e.g. "node 20 — engines.node in backend/package.json:5"
    pub evidence: String,
    pub confidence: Confidence,
}

pub(crate) fn found<T>(value: T, evidence: impl Into<String>) -> Option<Detected<T>> {
    Some(Detected {
        value,
        evidence: evidence.into(),
        confidence: Confidence::High,
    })
}

pub(crate) fn guessed<T>(value: T, evidence: impl Into<String>) -> Option<Detected<T>> {
    Some(Detected {
        value,
        evidence: evidence.into(),
        confidence: Confidence::Medium,
    })
}

/// A file read from the repository, with its path relative to the root.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub rel: String,
    pub text: String,
}

impl Source {
    /// `rel:line` of the first line containing `needle`, or `rel` alone.
    pub fn at(&self, needle: &str) -> String {
        match self.line_of(needle) {
            Some(n) => format!("{}:{n}", self.rel),
            None => self.rel.clone(),
        }
    }

    pub fn line_of(&self, needle: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
    }
}

/// Largest manifest read: a repository can hold anything.
const MAX_MANIFEST: u64 = 2 * 1024 * 1024;

/// Read `rel` under `root` if it is a plain file of a sane size; links are
/// not followed out of the repository.
pub(crate) fn read(root: &std::path::Path, rel: &str) -> Option<Source> {
    let path = root.join(rel);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_MANIFEST {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    Some(Source {
        rel: rel.trim_start_matches("./").to_string(),
        text,
    })
}

/// `dir` joined to `name` as a repository-relative path ("" is the root).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
