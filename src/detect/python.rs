//! Python projects: pyproject.toml (PEP 621, Poetry, uv workspaces) and
//! requirements*.txt.

use super::evidence::{join, read, Source};

/// Web frameworks that make a Python project the service.
pub(crate) const WEB_LIBS: &[&str] = &["fastapi", "starlette", "uvicorn"];

#[derive(Debug, Clone)]
pub(crate) struct PyProject {
    pub dir: String,
    pub pyproject: Option<(Source, toml::Table)>,
    /// requirements*.txt files and the normalised names they list.
    pub requirements: Vec<(Source, Vec<String>)>,
    /// .python-version or runtime.txt.
    pub version_file: Option<Source>,
}

impl PyProject {
    pub fn load(root: &std::path::Path, dir: &str) -> Option<PyProject> {
        let pyproject = read(root, &join(dir, "pyproject.toml"))
            .and_then(|s| s.text.parse::<toml::Table>().ok().map(|t| (s, t)));
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("requirements") && n.ends_with(".txt"))
            .collect();
        names.sort();
        let requirements: Vec<(Source, Vec<String>)> = names
            .iter()
            .filter_map(|n| read(root, &join(dir, n)))
            .map(|s| {
                let names = s.text.lines().filter_map(requirement_name).collect();
                (s, names)
            })
            .collect();
        if pyproject.is_none() && requirements.is_empty() {
            return None;
        }
        let version_file = read(root, &join(dir, ".python-version"))
            .or_else(|| read(root, &join(dir, "runtime.txt")));
        Some(PyProject {
            dir: dir.to_string(),
            pyproject,
            requirements,
            version_file,
        })
    }

    fn table(&self, path: &[&str]) -> Option<&toml::Value> {
        let (_, t) = self.pyproject.as_ref()?;
        let mut cur = t.get(path[0])?;
        for p in &path[1..] {
            cur = cur.get(p)?;
        }
        Some(cur)
    }

    /// Every requirement string the project declares (PEP 621, optional
    /// dependency groups, dependency-groups).
    fn declared(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let mut add = |v: Option<&toml::Value>| {
            if let Some(a) = v.and_then(|d| d.as_array()) {
                all.extend(a.iter().filter_map(|d| d.as_str()).map(str::to_string));
            }
        };
        add(self.table(&["project", "dependencies"]));
        for group in ["project.optional-dependencies", "dependency-groups"] {
            let path: Vec<&str> = group.split('.').collect();
            if let Some(t) = self.table(&path).and_then(|t| t.as_table()) {
                for v in t.values() {
                    add(Some(v));
                }
            }
        }
        all
    }

    /// Where `name` is declared: "celery in backend/pyproject.toml:9".
    pub fn dep(&self, name: &str) -> Option<String> {
        let want = normalise(name);
        if let Some((src, _)) = &self.pyproject {
            let listed = self
                .declared()
                .iter()
                .any(|d| requirement_name(d).as_deref() == Some(want.as_str()));
            let poetry = self
                .table(&["tool", "poetry", "dependencies"])
                .and_then(|d| d.as_table())
                .is_some_and(|t| t.keys().any(|k| normalise(k) == want));
            if listed || poetry {
                return Some(format!("{name} in {}", at_name(src, &want)));
            }
        }
        self.requirements
            .iter()
            .find(|(_, names)| names.contains(&want))
            .map(|(s, _)| format!("{name} in {}", at_name(s, &want)))
    }

    pub fn has(&self, name: &str) -> bool {
        self.dep(name).is_some()
    }

    /// The raw requirement for `name` (to see extras such as celery[redis]).
    pub fn requirement(&self, name: &str) -> Option<String> {
        let want = normalise(name);
        self.declared()
            .into_iter()
            .chain(
                self.requirements
                    .iter()
                    .flat_map(|(s, _)| s.text.lines().map(str::to_string)),
            )
            .find(|d| requirement_name(d).as_deref() == Some(want.as_str()))
    }

    pub fn name(&self) -> Option<&str> {
        self.table(&["project", "name"])
            .or_else(|| self.table(&["tool", "poetry", "name"]))
            .and_then(|n| n.as_str())
    }

    pub fn manifest_rel(&self) -> String {
        match &self.pyproject {
            Some((s, _)) => s.rel.clone(),
            None => self.requirements[0].0.rel.clone(),
        }
    }

    /// The Python minor version and where it was declared.
    pub fn version(&self) -> Option<(String, String)> {
        if let Some(f) = &self.version_file {
            if let Some(v) = python_minor(f.text.trim()) {
                return Some((v, f.rel.clone()));
            }
        }
        let (src, _) = self.pyproject.as_ref()?;
        for (path, label) in [
            (&["project", "requires-python"][..], "requires-python"),
            (
                &["tool", "poetry", "dependencies", "python"][..],
                "tool.poetry.dependencies.python",
            ),
        ] {
            if let Some(v) = self
                .table(path)
                .and_then(|v| v.as_str())
                .and_then(python_minor)
            {
                let key = path.last().expect("non-empty");
                return Some((v, format!("{label} in {}", src.at(key))));
            }
        }
        None
    }

    /// uv workspace members and Poetry path dependencies, as globs.
    pub fn members(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .table(&["tool", "uv", "workspace", "members"])
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(t) = self
            .table(&["tool", "poetry", "dependencies"])
            .and_then(|d| d.as_table())
        {
            out.extend(
                t.values()
                    .filter_map(|v| v.get("path").and_then(|p| p.as_str()))
                    .map(str::to_string),
            );
        }
        out
    }

    pub fn is_web(&self) -> bool {
        WEB_LIBS.iter().any(|l| self.has(l))
    }
}

/// `rel:line` of the line declaring `name` (normalised), or `rel`.
fn at_name(src: &Source, want: &str) -> String {
    match src.text.lines().position(|l| {
        let l = l.trim().trim_start_matches(['"', '\'']);
        requirement_name(l).as_deref() == Some(want)
            || l.split('=').next().map(normalise).as_deref() == Some(want)
    }) {
        Some(i) => format!("{}:{}", src.rel, i + 1),
        None => src.rel.clone(),
    }
}

pub(crate) fn normalise(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The package name of a PEP 508 requirement line, if it is one.
pub(crate) fn requirement_name(line: &str) -> Option<String> {
    let line = line.split('#').next()?.trim();
    if line.is_empty() || line.starts_with('-') || line.starts_with('[') {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let name = &line[..end];
    (!name.is_empty()).then(|| normalise(name))
}

/// "3.12" from ">=3.12", "^3.11", "3.12.1", "python-3.11.4".
pub(crate) fn python_minor(spec: &str) -> Option<String> {
    let rest = spec.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?;
    let minor = parts.next()?;
    (major == "3" && !minor.is_empty()).then(|| format!("3.{minor}"))
}
