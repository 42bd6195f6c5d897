//! The repository, read once: the `ignore` crate's walker with git's
//! ignore rules (.gitignore, .git/info/exclude, global excludes), so an
//! ignored `.env` or a 12,000-file node_modules is never read. Directories
//! that are never configuration are skipped even without a .gitignore.

use std::path::Path;
use std::sync::OnceLock;

use ignore::WalkBuilder;
use regex::Regex;

use super::report::Evidence;
use crate::core::lock::LOCK_FILE;
use crate::detect::compose;
use crate::error::Error;

const NEVER: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".terraform",
    ".next",
    "dist",
    "build",
    ".mypy_cache",
    ".pytest_cache",
    "vendor",
];
const MAX_FILE: u64 = 1024 * 1024;
const MAX_FILES: usize = 20_000;

pub struct SourceFile {
    pub path: String,
    pub text: String,
}

pub struct Repo {
    pub files: Vec<SourceFile>,
    /// Every path the walker saw (read or not), for existence checks.
    pub seen: usize,
}

/// Whether a file can matter to a check; only these are read.
fn interesting(path: &str) -> bool {
    const EXT: &[&str] = &[
        ".conf", ".js", ".mjs", ".cjs", ".ts", ".py", ".tf", ".tfvars", ".yml", ".yaml", ".json",
        ".toml", ".sh", ".bash", ".md", ".rules", ".txt", ".pem", ".key", ".acl",
    ];
    let name = file_name(path);
    EXT.iter().any(|e| name.ends_with(e))
        || is_dockerfile(path)
        || is_env_file(path)
        || is_env_example(path)
        || matches!(
            name,
            "Caddyfile" | ".dockerignore" | ".gitignore" | "Procfile"
        )
        || name.starts_with("id_rsa")
        || path.to_ascii_lowercase().contains("secret")
        || path.to_ascii_lowercase().contains("password")
}

impl Repo {
    pub fn load(root: &Path) -> Result<Repo, Error> {
        if !root.is_dir() {
            return Err(Error::io(
                root,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let walker = WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|e| !NEVER.contains(&e.file_name().to_string_lossy().as_ref()))
            .build();
        let mut files = Vec::new();
        let mut seen = 0;
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            seen += 1;
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            // The lock holds copies of every generated file: it is not
            // configuration and would double every finding.
            if rel == LOCK_FILE || !interesting(&rel) || files.len() >= MAX_FILES {
                continue;
            }
            if entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE) {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    files.push(SourceFile { path: rel, text });
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Repo { files, seen })
    }

    pub fn matching<'a>(
        &'a self,
        kind: fn(&str) -> bool,
    ) -> impl Iterator<Item = &'a SourceFile> + 'a {
        self.files.iter().filter(move |f| kind(&f.path))
    }

    /// Every line of files of `kind` matching `re`.
    pub fn grep(&self, kind: fn(&str) -> bool, re: &Regex) -> Vec<Evidence> {
        self.matching(kind).flat_map(|f| grep_file(f, re)).collect()
    }

    pub fn first(&self, kind: fn(&str) -> bool, re: &Regex) -> Option<Evidence> {
        self.matching(kind)
            .find_map(|f| grep_file(f, re).into_iter().next())
    }

    pub fn get(&self, path: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.path == path)
    }

    pub fn compose_projects(&self) -> Vec<compose::Project> {
        let pairs: Vec<(&str, &str)> = self
            .matching(is_compose)
            .map(|f| (f.path.as_str(), f.text.as_str()))
            .collect();
        compose::projects(&pairs)
    }
}

fn is_js(p: &str) -> bool {
    [".js", ".mjs", ".cjs", ".ts"]
        .iter()
        .any(|e| p.ends_with(e))
}

/// Next.js config, where headers() writes `{ key: 'X-Frame-Options',
/// value: 'DENY' }` over two lines: there a line is read with the next one.
fn joins_lines(p: &str) -> bool {
    file_name(p).starts_with("next.config.") && is_js(p)
}

/// Matching lines of `f`; comments are not configuration, so they are
/// never evidence (except in Markdown, where `#` starts a heading).
pub fn grep_file(f: &SourceFile, re: &Regex) -> Vec<Evidence> {
    let js = joins_lines(&f.path);
    // One search over the whole text rules most files out at once.
    if !js && !multiline(re).is_match(&f.text) {
        return Vec::new();
    }
    let markdown = f.path.ends_with(".md");
    let lines: Vec<&str> = f.text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if !markdown && (t.starts_with('#') || t.starts_with("//") || t.starts_with('*')) {
            continue;
        }
        let hit = re.is_match(l)
            || js
                && lines
                    .get(i + 1)
                    .is_some_and(|n| re.is_match(&format!("{l} {}", n.trim())) && !re.is_match(n));
        if hit {
            out.push(ev(&f.path, i + 1, l));
        }
    }
    out
}

pub fn ev(file: &str, line: usize, text: &str) -> Evidence {
    let mut t = text.trim().to_string();
    if t.chars().count() > 100 {
        t = t.chars().take(99).collect::<String>() + "…";
    }
    Evidence {
        file: file.to_string(),
        line,
        text: t,
    }
}

/// The first line of `f` as evidence that the file exists.
pub fn head(f: &SourceFile) -> Evidence {
    ev(&f.path, 1, f.text.lines().next().unwrap_or(""))
}

pub fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("audit patterns are valid")
}

/// A lazily compiled regex, one per call site.
macro_rules! rx {
    ($p:expr) => {{
        static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        R.get_or_init(|| $crate::audit::walk::re($p))
    }};
}
pub(crate) use rx;

/// `re` with `^` and `$` at line ends, to search a whole file: it matches
/// wherever `re` matches one of the file's lines (and maybe more).
fn multiline(re: &Regex) -> &'static Regex {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Regex>>> = OnceLock::new();
    let mut m = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("the regex cache is never poisoned");
    m.entry(re.as_str().to_string())
        .or_insert_with(|| Box::leak(Box::new(self::re(&format!("(?m){}", re.as_str())))))
}

/// Regexes compiled once per distinct pattern string (the check table's).
pub fn cached(pattern: &'static str) -> &'static Regex {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static Regex>>> = OnceLock::new();
    let mut m = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("the regex cache is never poisoned");
    m.entry(pattern)
        .or_insert_with(|| Box::leak(Box::new(re(pattern))))
}

// File kinds.
pub fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}
pub fn is_conf(p: &str) -> bool {
    p.ends_with(".conf") && !file_name(p).contains("redis")
}
pub fn is_redis_conf(p: &str) -> bool {
    file_name(p).contains("redis") && p.ends_with(".conf")
}
pub fn is_dockerfile(p: &str) -> bool {
    let n = file_name(p);
    n == "Dockerfile"
        || n.starts_with("Dockerfile.")
        || n.ends_with(".Dockerfile")
        || n == "Containerfile"
}
pub fn is_compose(p: &str) -> bool {
    compose::is_compose(p)
}
pub fn is_tf(p: &str) -> bool {
    p.ends_with(".tf")
}
pub fn is_tfvars(p: &str) -> bool {
    p.ends_with(".tfvars")
}
pub fn is_workflow(p: &str) -> bool {
    (p.starts_with(".github/workflows/") && (p.ends_with(".yml") || p.ends_with(".yaml")))
        || p == ".gitlab-ci.yml"
}
pub fn is_yaml(p: &str) -> bool {
    p.ends_with(".yml") || p.ends_with(".yaml")
}
pub fn is_script(p: &str) -> bool {
    p.ends_with(".sh") || p.ends_with(".bash")
}
pub fn is_code_or_conf(p: &str) -> bool {
    const EXT: &[&str] = &[
        ".conf", ".js", ".mjs", ".cjs", ".ts", ".py", ".tf", ".yml", ".yaml", ".json", ".toml",
    ];
    (EXT.iter().any(|e| p.ends_with(e)) && !p.ends_with("package-lock.json"))
        || file_name(p) == "Caddyfile"
}
pub fn is_code(p: &str) -> bool {
    is_js(p) || p.ends_with(".py")
}
/// Edge proxies' configuration: nginx, Traefik (YAML/TOML or compose
/// labels), Caddy.
pub fn is_edge(p: &str) -> bool {
    is_conf(p) || is_caddy(p) || is_traefik(p) || is_compose(p)
}
pub fn is_caddy(p: &str) -> bool {
    file_name(p) == "Caddyfile" || p.ends_with(".caddyfile")
}
pub fn is_traefik(p: &str) -> bool {
    p.to_ascii_lowercase().contains("traefik") && (is_yaml(p) || p.ends_with(".toml"))
}
pub fn is_package_json(p: &str) -> bool {
    file_name(p) == "package.json"
}
pub fn is_env_example(p: &str) -> bool {
    matches!(
        file_name(p),
        ".env.example" | ".env.sample" | ".env.template" | "env.example" | ".env.dist"
    )
}
pub fn is_env_file(p: &str) -> bool {
    let n = file_name(p);
    (n == ".env" || n.starts_with(".env.") || n.ends_with(".env")) && !is_env_example(p)
}
pub fn is_runbook(p: &str) -> bool {
    let l = p.to_ascii_lowercase();
    l.ends_with(".md") && (file_name(&l).starts_with("runbook") || l.contains("runbooks/"))
}
/// Prometheus rule files: YAML with groups, or the `.rules` convention.
pub fn is_rules_candidate(p: &str) -> bool {
    is_yaml(p) || p.ends_with(".rules")
}
