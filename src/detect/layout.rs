//! The repository's layout as the ecosystems define it: the root, npm /
//! pnpm / yarn workspace members, uv workspace members and Poetry path
//! dependencies, conventional subfolders (backend/, web/, project/, …),
//! compose services, Dockerfiles, Procfiles and Terraform.

use std::path::Path;

use ignore::WalkBuilder;

use super::compose::{self, Project};
use super::evidence::{join, read, Source};
use super::node::NodePackage;
use super::python::PyProject;

/// Folders a service commonly lives in when it is not at the root.
const CONVENTIONAL: &[&str] = &[
    "backend",
    "server",
    "api",
    "app",
    "web",
    "frontend",
    "client",
    "project",
    "service",
    "src",
    "services/*",
    "apps/*",
    "packages/*",
];

/// Directories never worth reading, even without a .gitignore.
pub(crate) const NEVER: &[&str] = &[
    ".git",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".terraform",
    ".next",
    "target",
    "dist",
    "build",
    ".mypy_cache",
    ".pytest_cache",
    "vendor",
];

/// Source files read for patterns (TwiML, webhooks) at most.
const MAX_SOURCES: usize = 3000;
const SOURCE_EXT: &[&str] = &[".js", ".mjs", ".cjs", ".ts", ".py"];

pub(crate) struct Layout {
    pub node: Vec<NodePackage>,
    pub python: Vec<PyProject>,
    pub compose: Vec<Project>,
    pub procfiles: Vec<Source>,
    pub dockerfiles: Vec<Source>,
    pub terraform: Vec<Source>,
    pub env_examples: Vec<Source>,
    /// Application source files (paths), for pattern checks.
    pub sources: Vec<String>,
}

/// Expand `pattern` (relative to the root, `*` allowed) into directories.
fn expand(root: &Path, pattern: &str) -> Vec<String> {
    let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
    if !pattern.contains('*') {
        return if root.join(pattern).is_dir() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let full = root.join(pattern).to_string_lossy().into_owned();
    let mut out: Vec<String> = glob::glob(&full)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|p| p.is_dir())
        .filter_map(|p| {
            p.strip_prefix(root)
                .ok()
                .map(|r| r.to_string_lossy().replace('\\', "/"))
        })
        .filter(|r| !r.split('/').any(|s| NEVER.contains(&s)))
        .collect();
    out.sort();
    out
}

impl Layout {
    pub fn load(root: &Path) -> Layout {
        let mut dirs: Vec<String> = vec![String::new()];
        let push = |dirs: &mut Vec<String>, d: String| {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        };
        if let Some(pkg) = NodePackage::load(root, "") {
            for g in pkg.workspaces(root) {
                for d in expand(root, &g) {
                    push(&mut dirs, d);
                }
            }
        }
        if let Some(py) = PyProject::load(root, "") {
            for g in py.members() {
                for d in expand(root, &g) {
                    push(&mut dirs, d);
                }
            }
        }
        for g in CONVENTIONAL {
            for d in expand(root, g) {
                push(&mut dirs, d);
            }
        }

        // One walk for everything found by name anywhere.
        let mut compose_files: Vec<Source> = Vec::new();
        let mut terraform = Vec::new();
        let mut sources = Vec::new();
        let mut dockerfiles = Vec::new();
        let walker = WalkBuilder::new(root)
            .hidden(false)
            .max_depth(Some(6))
            .filter_entry(|e| !NEVER.contains(&e.file_name().to_string_lossy().as_ref()))
            .build();
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            if compose::is_compose(&rel) {
                compose_files.extend(read(root, &rel));
            } else if rel.ends_with(".tf") {
                terraform.extend(read(root, &rel));
            } else if name == "Dockerfile" || name.starts_with("Dockerfile.") {
                dockerfiles.extend(read(root, &rel));
            } else if SOURCE_EXT.iter().any(|e| rel.ends_with(e))
                && !rel.ends_with(".d.ts")
                && !rel.ends_with(".config.js")
                && sources.len() < MAX_SOURCES
            {
                sources.push(rel);
            }
        }
        // Compose build contexts name service directories too.
        let pairs: Vec<(&str, &str)> = compose_files
            .iter()
            .map(|s| (s.rel.as_str(), s.text.as_str()))
            .collect();
        let compose = compose::projects(&pairs);
        for p in &compose {
            for s in &p.services {
                if let Some(ctx) = s.build_context() {
                    let base = s.file.rsplit_once('/').map_or("", |(d, _)| d);
                    let d = join(base, ctx.trim_start_matches("./").trim_end_matches('/'));
                    let d = d.trim_end_matches('.').trim_end_matches('/').to_string();
                    if !d.contains("..") && root.join(&d).is_dir() {
                        push(&mut dirs, d);
                    }
                }
            }
        }

        let mut node = Vec::new();
        let mut python = Vec::new();
        let mut procfiles = Vec::new();
        let mut env_examples = Vec::new();
        for d in &dirs {
            node.extend(NodePackage::load(root, d));
            python.extend(PyProject::load(root, d));
            procfiles.extend(read(root, &join(d, "Procfile")));
            for f in [".env.example", ".env.sample", ".env.template"] {
                env_examples.extend(read(root, &join(d, f)));
            }
        }
        dockerfiles.sort_by_key(|s| (s.rel.matches('/').count(), s.rel.clone()));
        Layout {
            node,
            python,
            compose,
            procfiles,
            dockerfiles,
            terraform,
            env_examples,
            sources,
        }
    }

    /// Compose services, every project (a service named in several
    /// projects of one directory appears once per project).
    pub fn services(&self) -> impl Iterator<Item = &compose::Service> {
        self.compose.iter().flat_map(|p| p.services.iter())
    }
}
