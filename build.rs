//! Parses every embedded template once, at build time, so no run pays for
//! tera's parser (see `src/core/templates/codec.rs` for why and how). A template that
//! does not parse fails the build, naming the file and tera's reason.

use std::path::{Path, PathBuf};

#[allow(dead_code)] // build.rs encodes; decoding is for the binary.
#[path = "src/core/templates/codec.rs"]
mod codec;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    // Cargo scans a directory given here recursively for changes.
    println!("cargo::rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();

    let mut parsed = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .expect("walked from templates/")
            .to_string_lossy()
            .replace('\\', "/");
        // Same rule as `Templates::embedded`: VERSION is data, not a template.
        if name == "VERSION" {
            continue;
        }
        let source =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("templates/{name}: {e}"));
        let template = tera::Template::new(&name, None, &source)
            .unwrap_or_else(|e| panic!("templates/{name} does not parse: {}", chain(&e)));
        parsed.push((name, template));
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bytes = codec::encode_set(parsed.iter().map(|(n, t)| (n.as_str(), t)));
    std::fs::write(out.join("templates.ast"), bytes).expect("write OUT_DIR/templates.ast");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a readable directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
