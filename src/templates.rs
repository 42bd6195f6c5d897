//! The template set: the files under `templates/`, embedded in the binary,
//! optionally overlaid by a directory on disk (`--templates DIR`) so a team
//! can carry its own customisations or try a newer template set.

use include_dir::{include_dir, Dir};
use std::collections::BTreeMap;
use std::path::Path;

use crate::catalog::VERSION_FILE;
use crate::error::Error;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

#[derive(Debug, Clone)]
pub struct Templates {
    /// Template name (path under `templates/`) → source text.
    files: BTreeMap<String, String>,
    version: String,
}

impl Templates {
    pub fn embedded() -> Templates {
        let mut files = BTreeMap::new();
        collect(&EMBEDDED, &mut files);
        let version = files
            .get(VERSION_FILE)
            .map(|v| v.trim().to_string())
            .expect("templates/VERSION is embedded");
        files.remove(VERSION_FILE);
        Templates { files, version }
    }

    /// The embedded set with every file of `dir` laid over it (same relative
    /// path replaces, new paths add). A `VERSION` file in `dir` sets the version.
    pub fn with_overlay(dir: &Path) -> Result<Templates, Error> {
        let mut t = Templates::embedded();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&d, e))?;
                let path = entry.path();
                let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
                if ty.is_dir() {
                    stack.push(path);
                } else if ty.is_file() {
                    let rel = path
                        .strip_prefix(dir)
                        .expect("walked from dir")
                        .to_string_lossy()
                        .replace('\\', "/");
                    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                    if rel == VERSION_FILE {
                        t.version = text.trim().to_string();
                    } else {
                        t.files.insert(rel, text);
                    }
                }
            }
        }
        Ok(t)
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.files.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.files.iter()
    }
}

fn collect(dir: &Dir<'static>, out: &mut BTreeMap<String, String>) {
    for f in dir.files() {
        let name = f.path().to_string_lossy().replace('\\', "/");
        let text = f
            .contents_utf8()
            .unwrap_or_else(|| panic!("templates/{name} is not UTF-8"));
        out.insert(name, text.to_string());
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}
