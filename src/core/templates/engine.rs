//! The one place that knows tera: building an engine from a template set and
//! rendering a template with a context. Nothing outside `core::templates`
//! names a tera type, so the template language could change behind this seam
//! without touching the renderer, the catalog or any command.
//!
//! Overlaid templates (`--templates DIR`) are the team's own code, but a
//! mistake in them must end in an error, not a crash: an include or macro
//! that reaches itself would recurse until the stack overflows, and output
//! without bound would fill memory. Both are refused here.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tera::ast::{Expr, ExprVal, Node};
use tera::{Context, Tera};

use super::Templates;
use crate::error::Error;

/// The most one template may render; the largest embedded output is ~40 KB.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Values a template can read.
#[derive(Debug, Clone)]
pub struct Vars(Context);

impl Vars {
    /// The fields of `base` (a struct or map) as top-level variables.
    pub fn from_serialize(base: &impl Serialize) -> Result<Vars, Error> {
        Context::from_serialize(base)
            .map(Vars)
            .map_err(|e| template_error("context", &e))
    }

    pub fn insert(&mut self, key: &str, value: &impl Serialize) {
        self.0.insert(key, value);
    }
}

/// A parsed, linked set of templates ready to render.
pub struct Engine {
    tera: Tera,
}

impl Engine {
    /// An engine holding `roots` and every template they import, include or
    /// extend, and nothing else. Embedded templates arrive parsed at build
    /// time (see `codec`); only overlaid ones are parsed here.
    pub fn for_roots(templates: &Templates, roots: &[&str]) -> Result<Engine, Error> {
        let mut tera = Tera::default();
        // Nothing here is HTML; escaping would corrupt configs.
        tera.autoescape_on(vec![]);
        // Level by level (the roots, then what they pull in, ...), each level
        // decoded, or parsed when overlaid, over the cores.
        let mut level: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
        level.sort_unstable();
        level.dedup();
        while !level.is_empty() {
            let parsed =
                crate::core::parallel::try_map(&level, |name| match templates.parse(name) {
                    Some(parsed) => parsed.map(Some).map_err(|e| template_error(name, &e)),
                    None if roots.contains(&name.as_str()) => Err(Error::Template {
                        template: name.clone(),
                        message: "no such template".into(),
                    }),
                    // tera names a missing import, parent or include itself,
                    // below or when rendering (`ignore missing` is no error).
                    None => Ok(None),
                })?;
            let mut next = Vec::new();
            for (name, template) in level.into_iter().zip(parsed) {
                if let Some(template) = template {
                    next.extend(dependencies(&template));
                    tera.templates.insert(name, template);
                }
            }
            next.sort_unstable();
            next.dedup();
            next.retain(|n| !tera.templates.contains_key(n));
            level = next;
        }
        refuse_cycles(&tera)?;
        tera.build_inheritance_chains()
            .map_err(|e| template_error("templates", &e))?;
        tera.check_macro_files()
            .map_err(|e| template_error("templates", &e))?;
        Ok(Engine { tera })
    }

    /// Render template `name`.
    pub fn render(&self, name: &str, vars: &Vars) -> Result<String, Error> {
        let mut out = BoundedWriter {
            buf: Vec::new(),
            limit: MAX_OUTPUT_BYTES,
        };
        self.tera.render_to(name, &vars.0, &mut out).map_err(|e| {
            match out.buf.len() >= MAX_OUTPUT_BYTES {
                true => Error::Template {
                    template: name.to_string(),
                    message: format!(
                        "renders more than {} MiB; a loop without bound?",
                        MAX_OUTPUT_BYTES / (1024 * 1024)
                    ),
                },
                false => template_error(name, &e),
            }
        })?;
        String::from_utf8(out.buf).map_err(|e| template_error(name, &e))
    }

    /// Names of the templates this engine holds.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tera.get_template_names()
    }
}

/// Stops a render that outgrows the limit (tera stops at the first failed
/// write).
struct BoundedWriter {
    buf: Vec<u8>,
    limit: usize,
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.buf.resize(self.limit, 0);
            return Err(std::io::Error::other("output limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Names a parsed template pulls in: its parent, its macro imports and every
/// `{% include %}` at any depth.
fn dependencies(template: &tera::Template) -> Vec<String> {
    let mut out: Vec<String> = template.parent.iter().cloned().collect();
    out.extend(
        template
            .imported_macro_files
            .iter()
            .map(|(file, _)| file.clone()),
    );
    walk(&template.ast, &mut |node| {
        if let Node::Include(_, names, _) = node {
            out.extend(names.iter().cloned());
        }
    });
    out
}

/// Every node at any depth, bodies of blocks, macros, loops and branches included.
fn walk(nodes: &[Node], f: &mut impl FnMut(&Node)) {
    for node in nodes {
        f(node);
        match node {
            Node::Block(_, b, _) => walk(&b.body, f),
            Node::MacroDefinition(_, m, _) => walk(&m.body, f),
            Node::FilterSection(_, s, _) => walk(&s.body, f),
            Node::Forloop(_, l, _) => {
                walk(&l.body, f);
                walk(l.empty_body.as_deref().unwrap_or_default(), f);
            }
            Node::If(i, _) => {
                for (_, _, body) in &i.conditions {
                    walk(body, f);
                }
                if let Some((_, body)) = &i.otherwise {
                    walk(body, f);
                }
            }
            _ => {}
        }
    }
}

/// Macro calls inside a node's expressions (`{{ m::x() }}`, `{% set a = m::x() %}`).
fn macro_calls(node: &Node, out: &mut Vec<(String, String)>) {
    fn expr(e: &Expr, out: &mut Vec<(String, String)>) {
        match &e.val {
            ExprVal::MacroCall(c) => {
                out.push((c.namespace.clone(), c.name.clone()));
                for a in c.args.values() {
                    expr(a, out);
                }
            }
            ExprVal::Math(m) => {
                expr(&m.lhs, out);
                expr(&m.rhs, out);
            }
            ExprVal::Logic(l) => {
                expr(&l.lhs, out);
                expr(&l.rhs, out);
            }
            ExprVal::Test(t) => t.args.iter().for_each(|a| expr(a, out)),
            ExprVal::FunctionCall(c) => c.args.values().for_each(|a| expr(a, out)),
            ExprVal::Array(a) => a.iter().for_each(|x| expr(x, out)),
            ExprVal::In(i) => {
                expr(&i.lhs, out);
                expr(&i.rhs, out);
            }
            _ => {}
        }
        for f in &e.filters {
            f.args.values().for_each(|a| expr(a, out));
        }
    }
    match node {
        Node::VariableBlock(_, e) => expr(e, out),
        Node::Set(_, s) => expr(&s.value, out),
        Node::If(i, _) => i.conditions.iter().for_each(|(_, e, _)| expr(e, out)),
        Node::Forloop(_, l, _) => expr(&l.container, out),
        _ => {}
    }
}

/// Refuse an include chain or a macro that reaches itself: tera would recurse
/// until the stack overflows.
fn refuse_cycles(tera: &Tera) -> Result<(), Error> {
    // Includes: template → templates it includes.
    let mut includes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Macros: "file::name" → macros it calls, resolved through its imports.
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, t) in &tera.templates {
        let mut inc = Vec::new();
        walk(&t.ast, &mut |n| {
            if let Node::Include(_, names, _) = n {
                inc.extend(names.iter().cloned());
            }
        });
        includes.insert(name.clone(), inc);
        let namespace_file = |ns: &str| -> String {
            if ns == "self" {
                return name.clone();
            }
            t.imported_macro_files
                .iter()
                .find(|(_, alias)| alias == ns)
                .map(|(file, _)| file.clone())
                .unwrap_or_default()
        };
        for (mname, m) in &t.macros {
            let mut found = Vec::new();
            walk(&m.body, &mut |n| macro_calls(n, &mut found));
            calls.insert(
                format!("{name}::{mname}"),
                found
                    .into_iter()
                    .map(|(ns, callee)| format!("{}::{callee}", namespace_file(&ns)))
                    .collect(),
            );
        }
    }
    if let Some(cycle) = find_cycle(&includes) {
        return Err(Error::Template {
            template: cycle[0].clone(),
            message: format!("includes itself: {}", cycle.join(" → ")),
        });
    }
    if let Some(cycle) = find_cycle(&calls) {
        return Err(Error::Template {
            template: cycle[0].split("::").next().unwrap_or_default().to_string(),
            message: format!(
                "a macro calls itself: {} (recursion is not supported in templates)",
                cycle.join(" → ")
            ),
        });
    }
    Ok(())
}

/// A cycle in a directed graph, as the path that closes it.
fn find_cycle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|k| visit(k, graph, &mut Vec::new(), &mut done))
}

pub(crate) fn template_error(template: &str, e: &dyn std::error::Error) -> Error {
    // tera nests the useful part (line, undefined variable) in sources.
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    Error::Template {
        template: template.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(files: &[(&str, &str)]) -> (tempfile::TempDir, Templates) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let t = Templates::with_overlay(dir.path()).unwrap();
        (dir, t)
    }

    #[test]
    fn holds_a_template_and_what_it_imports_only() {
        let t = Templates::embedded();
        let e = Engine::for_roots(&t, &["compose.prod.yaml.tera"]).unwrap();
        let names: Vec<&str> = e.names().collect();
        assert!(names.contains(&"compose.prod.yaml.tera"));
        assert!(names.contains(&"_partials/compose/macros.tera"));
        assert!(!names.contains(&"Dockerfile.node.tera"), "{names:?}");
        let t = tera::Template::new(
            "t",
            None,
            r#"{% extends "p.tera" %}{% import "a.tera" as m %}
{% block x %}{% for i in l %}{% if i %}{% include "b.tera" %}{% endif %}{% endfor %}{% endblock %}"#,
        )
        .unwrap();
        assert_eq!(dependencies(&t), ["p.tera", "a.tera", "b.tera"]);
    }

    #[test]
    fn an_include_of_itself_is_an_error_not_a_crash() {
        let (_d, t) = overlay(&[
            ("x.tera", "a {% include \"y.tera\" %}"),
            ("y.tera", "b {% include \"x.tera\" %}"),
        ]);
        let err = Engine::for_roots(&t, &["x.tera"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("includes itself: x.tera → y.tera → x.tera"),
            "{err}"
        );
    }

    #[test]
    fn a_recursive_macro_is_an_error_not_a_crash() {
        let (_d, t) = overlay(&[
            (
                "m.tera",
                "{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}",
            ),
            ("x.tera", "{% import \"m.tera\" as m %}{{ m::f(n=1) }}"),
        ]);
        let err = Engine::for_roots(&t, &["x.tera"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("a macro calls itself"), "{err}");
    }

    #[test]
    fn output_without_bound_stops_at_the_limit() {
        let (_d, t) = overlay(&[(
            "x.tera",
            "{% for a in range(end=100000) %}{% for b in range(end=100000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
        )]);
        let e = Engine::for_roots(&t, &["x.tera"]).unwrap();
        let err = e
            .render(
                "x.tera",
                &Vars::from_serialize(&BTreeMap::<String, String>::new()).unwrap(),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("renders more than 4 MiB"), "{err}");
    }
}
