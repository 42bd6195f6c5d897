//! The structure the code promises, checked from its own `use` lines and
//! `crate::` paths: every subcommand has its module in `commands/`, commands
//! never import each other (only `lib.rs` and `main.rs` name a command
//! module), the domain modules never see the command line, nothing outside
//! the template seam names tera, and no two modules import each other,
//! directly or in a ring.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a source file is, as a node of the graph: top-level modules
/// (`profile`, `verify`, ...) are one node each; `core` and `commands` are
/// split into their own modules (`core::plan`, `commands::diff`).
fn node_of(rel: &str) -> String {
    let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        [top @ ("core" | "commands"), "mod"] => top.to_string(),
        [top @ ("core" | "commands"), sub, ..] => format!("{top}::{sub}"),
        [top, ..] => top.to_string(),
        [] => unreachable!(),
    }
}

/// The node a `crate::a::b::...` path lands in.
fn node_of_path(path: &str) -> Option<String> {
    let mut parts = path
        .split("::")
        .map(|p| p.trim_matches(|c: char| !c.is_alphanumeric() && c != '_'));
    let top = parts.next()?;
    if top.is_empty() {
        return None;
    }
    match top {
        "core" | "commands" => match parts.next() {
            Some(sub)
                if !sub.is_empty() && sub.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
            {
                Some(format!("{top}::{sub}"))
            }
            _ => Some(top.to_string()),
        },
        _ => Some(top.to_string()),
    }
}

/// Every `crate::...` path in `text`, comments left out, with `use crate::x::{a, b}`
/// groups expanded one level.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let path = tail[..end].trim_end_matches(':');
            if tail[end..].starts_with('{') && (path == "core" || path == "commands") {
                let group = &tail[end + 1..tail[end..].find('}').map_or(tail.len(), |j| end + j)];
                for item in group.split(',') {
                    out.push(format!("{path}::{}", item.trim()));
                }
            } else {
                out.push(path.to_string());
            }
            rest = &tail[end..];
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests may reach anywhere; the structure is the shipped code's.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let from = node_of(&rel);
        let deps = g.entry(from.clone()).or_default();
        for p in crate_paths(text) {
            if let Some(to) = node_of_path(&p) {
                if to != from && !from.starts_with(&format!("{to}::")) {
                    deps.insert(to);
                }
            }
        }
    }
    g
}

#[test]
fn only_the_entry_points_name_a_command_module() {
    let g = graph();
    assert!(g.len() > 15, "read the sources: {:?}", g.keys());
    let mut offenders = Vec::new();
    for (from, deps) in &g {
        for to in deps {
            if to.starts_with("commands::") && from != "lib" && from != "main" {
                offenders.push(format!("{from} → {to}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "commands are imported by: {offenders:?}"
    );
}

/// The variants of clap's `Command` enum in src/cli.rs, as module names
/// (`Completions(CompletionsArgs)` -> "completions").
fn subcommands() -> Vec<String> {
    let cli =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli.rs")).unwrap();
    let body = cli
        .split("pub enum Command {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("src/cli.rs has `pub enum Command { ... }`");
    body.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
        .filter_map(|l| l.split_once('(').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(char::is_alphanumeric))
        .map(|name| {
            let mut out = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        })
        .collect()
}

#[test]
fn every_subcommand_has_its_module_in_commands_and_is_dispatched_there() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let subs = subcommands();
    assert!(subs.len() >= 8, "read the Command enum: {subs:?}");
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mods = std::fs::read_to_string(root.join("src/commands/mod.rs")).unwrap();
    let mut wrong = Vec::new();
    for sub in &subs {
        if !root.join(format!("src/commands/{sub}.rs")).is_file() {
            wrong.push(format!("no src/commands/{sub}.rs"));
        }
        if !mods.contains(&format!("pub mod {sub};")) {
            wrong.push(format!("src/commands/mod.rs lacks `pub mod {sub};`"));
        }
        if !lib.contains(&format!("cmd::{sub}::run(")) {
            wrong.push(format!("src/lib.rs does not dispatch to cmd::{sub}::run"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Parsing arguments and mapping results to exit codes is the commands'
/// job: the domain modules take typed values and know nothing of clap.
#[test]
fn the_domain_modules_never_see_the_command_line() {
    let g = graph();
    let offenders: Vec<&String> = ["audit", "detect", "verify"]
        .iter()
        .filter_map(|m| g.get_key_value(*m).map(|(k, _)| k))
        .filter(|m| g[*m].contains("cli"))
        .collect();
    assert!(g.contains_key("verify") && g.contains_key("detect") && g.contains_key("audit"));
    assert!(
        offenders.is_empty(),
        "these import crate::cli: {offenders:?}"
    );
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let g = graph();
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == n) {
            cycles.push(format!("{} → {n}", path[i..].join(" → ")));
            return;
        }
        if !done.insert(n.to_string()) {
            return;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for n in g.keys() {
        visit(n, &g, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn only_the_template_seam_names_tera() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let seam = src.join("core/templates");
    let named: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&seam))
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .any(|l| l.split("//").next().unwrap_or("").contains("tera::"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        named.is_empty(),
        "tera named outside core/templates: {named:?}"
    );
}

#[test]
fn the_reader_sees_groups_and_paths() {
    let p = crate_paths(
        "use crate::core::{plan::Action, lock};\nlet x = crate::ui::hint(); // crate::verify::x",
    );
    assert_eq!(p, ["core::plan::Action", "core::lock", "ui::hint"]);
    assert_eq!(
        node_of_path("core::plan::Action").as_deref(),
        Some("core::plan")
    );
    assert_eq!(node_of("core/templates/engine.rs"), "core::templates");
    assert_eq!(node_of("commands/mod.rs"), "commands");
    assert!(subcommands().contains(&"completions".to_string()));
}
