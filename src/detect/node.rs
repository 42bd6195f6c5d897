//! Node packages: package.json, its workspaces, and what it depends on.

use serde_json::Value as Json;

use super::evidence::{join, read, Source};

/// Server frameworks (the first six, see `FRAMEWORKS`) and libraries that
/// make a package the service (not a browser bundle or a shared library).
pub(crate) const SERVER_LIBS: &[&str] = &[
    "next",
    "@nestjs/core",
    "express",
    "fastify",
    "koa",
    "@hapi/hapi",
    "socket.io",
    "ws",
    "twilio",
    "@ringcentral/sdk",
    "ringcentral",
    "bullmq",
    "bull",
];

/// Frameworks shown to the user, first match wins: the head of
/// `SERVER_LIBS`, whose tail is libraries that are not frameworks.
pub(crate) const FRAMEWORKS: &[&str] = SERVER_LIBS.split_at(6).0;

#[derive(Debug, Clone)]
pub(crate) struct NodePackage {
    /// The package's directory relative to the root ("" for the root).
    pub dir: String,
    pub manifest: Source,
    pub json: Json,
}

impl NodePackage {
    pub fn load(root: &std::path::Path, dir: &str) -> Option<NodePackage> {
        let manifest = read(root, &join(dir, "package.json"))?;
        let json: Json = serde_json::from_str(&manifest.text).ok()?;
        json.is_object().then(|| NodePackage {
            dir: dir.to_string(),
            manifest,
            json,
        })
    }

    /// Where `name` is declared: "express in dependencies of web/package.json:7".
    pub fn dep(&self, name: &str) -> Option<String> {
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            if self.json.get(section).and_then(|d| d.get(name)).is_some() {
                return Some(format!(
                    "{name} in {section} of {}",
                    self.manifest.at(&format!("\"{name}\""))
                ));
            }
        }
        None
    }

    pub fn has(&self, name: &str) -> bool {
        self.dep(name).is_some()
    }

    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        let mut cur = &self.json;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str()
    }

    pub fn name(&self) -> Option<&str> {
        self.str_at(&["name"])
    }

    pub fn has_workspaces(&self) -> bool {
        self.json.get("workspaces").is_some()
    }

    /// A package that runs a server (as opposed to a browser bundle or a library).
    pub fn is_server(&self) -> bool {
        SERVER_LIBS.iter().any(|l| self.has(l))
            || self.str_at(&["scripts", "start"]).is_some_and(|s| {
                s.starts_with("node ") || s.starts_with("ts-node") || s.starts_with("tsx")
            })
    }

    /// Workspace globs: npm/yarn `workspaces` (array or `{packages}`) and
    /// pnpm-workspace.yaml's `packages`.
    pub fn workspaces(&self, root: &std::path::Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let ws = self.json.get("workspaces");
        let list = ws.and_then(|w| w.as_array()).or_else(|| {
            ws.and_then(|w| w.get("packages"))
                .and_then(|p| p.as_array())
        });
        if let Some(list) = list {
            out.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
        }
        if let Some(pnpm) = read(root, &join(&self.dir, "pnpm-workspace.yaml")) {
            if let Ok(y) = serde_norway::from_str::<serde_norway::Value>(&pnpm.text) {
                if let Some(seq) = y.get("packages").and_then(|p| p.as_sequence()) {
                    out.extend(seq.iter().filter_map(|v| v.as_str()).map(str::to_string));
                }
            }
        }
        out.retain(|g| !g.starts_with('!'));
        out
    }
}

/// The major version in a Node version spec: ">=20", "20.x", "^22.1", "v20.11.0".
pub(crate) fn node_major(spec: &str) -> Option<String> {
    let digits: String = spec
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (!digits.is_empty()).then_some(digits)
}
