//! The template set: the files under `templates/`, embedded in the binary,
//! optionally overlaid by a directory on disk (`--templates DIR`) so a team
//! can carry its own customisations or try a newer template set.
//!
//! This module is the seam around the template engine: `engine` is the only
//! code that names tera's types, and `codec` stores tera's parsed form at
//! build time so no run pays for the parser.

// Encoding runs in build.rs (which compiles codec.rs too) and in tests.
#[cfg_attr(not(test), allow(dead_code))]
mod codec;
mod engine;

pub use engine::{Engine, Vars, MAX_OUTPUT_BYTES};

use include_dir::{include_dir, Dir};
use std::collections::BTreeMap;
use std::path::Path;

use crate::core::catalog::VERSION_FILE;
use crate::error::Error;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The same templates, parsed by build.rs (see `ast_codec`).
static PRECOMPILED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/templates.ast"));

#[derive(Debug, Clone)]
pub struct Templates {
    /// Template name (path under `templates/`) → source text.
    files: BTreeMap<String, Source>,
    /// Template name → its parsed form from build time, for every embedded
    /// template that no overlay replaced.
    precompiled: BTreeMap<&'static str, &'static [u8]>,
    version: String,
}

impl Templates {
    pub fn embedded() -> Templates {
        let mut files = BTreeMap::new();
        collect(&EMBEDDED, &mut files);
        let version = files
            .remove(VERSION_FILE)
            .map(|v| v.text().trim().to_string())
            .expect("templates/VERSION is embedded");
        let precompiled = codec::index_set(PRECOMPILED).into_iter().collect();
        Templates {
            files,
            precompiled,
            version,
        }
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
                        t.version = parse_version(&text, &path)?;
                    } else {
                        t.precompiled.remove(rel.as_str());
                        t.files.insert(rel, Source::Overlay(text));
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
        self.files.get(name).map(Source::text)
    }

    /// Template `name`, parsed: decoded from the build-time form when it is
    /// the embedded one, parsed now when an overlay supplied it.
    fn parse(&self, name: &str) -> Option<tera::Result<tera::Template>> {
        if let Some(bytes) = self.precompiled.get(name) {
            return Some(Ok(codec::decode(bytes)));
        }
        let source = self.files.get(name)?;
        Some(tera::Template::new(name, None, source.text()))
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.files.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &str)> {
        self.files
            .iter()
            .map(|(name, source)| (name, source.text()))
    }
}

/// An overlay's VERSION: dotted numbers (`1.4.0`), as the lock records and
/// compares them. Anything else would make every later diff or update refuse
/// the tree ("written by newer templates").
fn parse_version(text: &str, path: &Path) -> Result<String, Error> {
    let v = text.trim();
    let parts: Vec<&str> = v.split('.').collect();
    let ok = (1..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(v.to_string())
    } else {
        Err(Error::Input {
            what: path.display().to_string(),
            message: format!(
                "{v:?} is not a template version: expected dotted numbers such as 1.4.0"
            ),
        })
    }
}

/// A template's source. Embedded text is checked for UTF-8 only when read:
/// a run renders from the precompiled form and never needs most of it.
#[derive(Debug, Clone)]
enum Source {
    Embedded(&'static [u8]),
    Overlay(String),
}

impl Source {
    fn text(&self) -> &str {
        match self {
            Source::Embedded(bytes) => {
                std::str::from_utf8(bytes).expect("build.rs read every template as UTF-8")
            }
            Source::Overlay(text) => text,
        }
    }
}

fn collect(dir: &Dir<'static>, out: &mut BTreeMap<String, Source>) {
    for f in dir.files() {
        let name = f.path().to_string_lossy().replace('\\', "/");
        out.insert(name, Source::Embedded(f.contents()));
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build-time parse must be exactly what parsing the source now
    /// gives: same AST, macros, blocks and imports, for every template.
    #[test]
    fn precompiled_templates_equal_a_fresh_parse() {
        let t = Templates::embedded();
        assert_eq!(
            t.precompiled.keys().copied().collect::<Vec<_>>(),
            t.names().map(String::as_str).collect::<Vec<_>>(),
            "every embedded template is precompiled, and nothing else"
        );
        for (name, source) in t.iter() {
            let fresh = tera::Template::new(name, None, source).unwrap();
            let stored = t.parse(name).unwrap().unwrap();
            assert_eq!(stored.name, fresh.name, "{name}");
            assert_eq!(stored.path, fresh.path, "{name}");
            assert_eq!(stored.ast, fresh.ast, "{name}");
            assert_eq!(stored.from_extend, fresh.from_extend, "{name}");
            assert_eq!(stored.macros, fresh.macros, "{name}");
            assert_eq!(
                stored.imported_macro_files, fresh.imported_macro_files,
                "{name}"
            );
            assert_eq!(stored.parent, fresh.parent, "{name}");
            assert_eq!(stored.blocks, fresh.blocks, "{name}");
            assert_eq!(stored.parents, fresh.parents, "{name}");
            assert_eq!(
                stored.blocks_definitions, fresh.blocks_definitions,
                "{name}"
            );
            // And the encoding is a pure function of the parse.
            assert_eq!(codec::encode(&stored), codec::encode(&fresh), "{name}");
        }
    }

    #[test]
    fn an_overlay_version_must_be_dotted_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("VERSION"), "banana\n").unwrap();
        let err = Templates::with_overlay(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("\"banana\" is not a template version"),
            "{err}"
        );
        std::fs::write(dir.path().join("VERSION"), "2.10.0\n").unwrap();
        assert_eq!(
            Templates::with_overlay(dir.path()).unwrap().version(),
            "2.10.0"
        );
    }

    #[test]
    fn an_overlaid_template_is_parsed_from_its_new_source() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".dockerignore.tera"),
            "overlaid {{ 1 + 1 }}\n",
        )
        .unwrap();
        let t = Templates::with_overlay(dir.path()).unwrap();
        let parsed = t.parse(".dockerignore.tera").unwrap().unwrap();
        assert!(matches!(&parsed.ast[0], tera::ast::Node::Text(s) if s == "overlaid "));
        assert!(t.parse("no/such.tera").is_none());
    }
}
