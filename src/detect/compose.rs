//! Compose files read as YAML, the way `docker compose` combines them:
//! compose.yaml with compose.override.yaml merged in, and an overlay
//! (compose.prod.yaml naming only services of the base file) merged onto
//! its base. Anchors and `<<:` merge keys are resolved.

use serde_norway::{Mapping, Value};

/// One service after merging, with where it is first defined.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// The file and line of its first definition.
    pub file: String,
    pub line: usize,
    pub def: Value,
}

impl Service {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.def.get(key)
    }

    pub fn image(&self) -> Option<&str> {
        self.get("image").and_then(|v| v.as_str())
    }

    pub fn builds(&self) -> bool {
        self.get("build").is_some()
    }

    /// The build context, if any ("." when only `build:` is given).
    pub fn build_context(&self) -> Option<String> {
        match self.get("build")? {
            Value::String(s) => Some(s.clone()),
            v => Some(
                v.get("context")
                    .and_then(|c| c.as_str())
                    .unwrap_or(".")
                    .to_string(),
            ),
        }
    }

    /// `restart: "no"` or a `profiles:` list: a one-off task, not a
    /// long-running service.
    pub fn one_off(&self) -> bool {
        self.get("profiles").is_some()
            || matches!(self.get("restart"), Some(Value::String(s)) if s == "no")
            || matches!(self.get("restart"), Some(Value::Bool(false)))
    }

    /// `ports:` entries in short form ("127.0.0.1:5432:5432") or long form
    /// ({published, host_ip}) as (host_ip, published) pairs.
    pub fn published(&self) -> Vec<(String, String)> {
        let Some(seq) = self.get("ports").and_then(|p| p.as_sequence()) else {
            return Vec::new();
        };
        seq.iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(short_port(s)),
                Value::Number(n) => Some((String::new(), n.to_string())),
                Value::Mapping(_) => Some((
                    p.get("host_ip")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                    p.get("published")
                        .map(scalar)
                        .unwrap_or_else(|| p.get("target").map(scalar).unwrap_or_default()),
                )),
                _ => None,
            })
            .collect()
    }

    /// Environment as (key, value) pairs, from a list or a mapping.
    pub fn environment(&self) -> Vec<(String, String)> {
        match self.get("environment") {
            Some(Value::Mapping(m)) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
            Some(Value::Sequence(s)) => s
                .iter()
                .filter_map(|v| v.as_str())
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.to_string(), String::new()),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `command:` as one string.
    pub fn command(&self) -> String {
        match self.get("command") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Sequence(s)) => s.iter().map(scalar).collect::<Vec<_>>().join(" "),
            _ => String::new(),
        }
    }
}

/// A scalar as text ("" for anything else).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// "8080:80" → ("", "8080"); "127.0.0.1:5432:5432" → ("127.0.0.1", "5432");
/// "5432" → ("", "") (container port only: not published on a fixed port,
/// though Docker still binds an ephemeral one on every interface).
fn short_port(s: &str) -> (String, String) {
    let s = s.split('/').next().unwrap_or(s);
    // IPv6 host addresses are bracketed: [::1]:5432:5432
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((ip, rest)) = rest.split_once(']') {
            let published = rest.trim_start_matches(':').split(':').next().unwrap_or("");
            return (ip.to_string(), published.to_string());
        }
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [ip, published, _] => (ip.to_string(), published.to_string()),
        [published, _] => (String::new(), published.to_string()),
        _ => (String::new(), s.to_string()),
    }
}

/// A set of compose files `docker compose` would combine.
#[derive(Debug, Clone)]
pub struct Project {
    pub files: Vec<String>,
    pub services: Vec<Service>,
}

impl Project {
    pub fn is_prod(&self) -> bool {
        self.files.iter().any(|f| file_name(f).contains("prod"))
    }
}

pub fn is_compose(path: &str) -> bool {
    let n = file_name(path);
    (n.starts_with("compose") || n.starts_with("docker-compose"))
        && (n.ends_with(".yml") || n.ends_with(".yaml"))
}

fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn dir_of(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

fn is_base(p: &str) -> bool {
    matches!(
        file_name(p),
        "compose.yaml" | "compose.yml" | "docker-compose.yaml" | "docker-compose.yml"
    )
}

fn is_override(p: &str) -> bool {
    let n = file_name(p);
    n.ends_with(".override.yml") || n.ends_with(".override.yaml")
}

/// Parse one file's services (mapping, merge keys applied). None when the
/// file is not YAML or has no services.
fn parse(text: &str) -> Option<Mapping> {
    let mut v: Value = serde_norway::from_str(text).ok()?;
    v.apply_merge().ok()?;
    // Merge keys can sit inside services too.
    let mut services = v.get("services")?.as_mapping()?.clone();
    for (_, s) in services.iter_mut() {
        let _ = s.apply_merge();
    }
    Some(services)
}

/// `base` with `over` laid on top: mappings merge key by key, anything
/// else is replaced (as compose does for scalars; lists are replaced too,
/// a simplification that cannot lose a hardening key).
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The line of `name:` under `services:` in `text` (1-based).
fn service_line(text: &str, name: &str) -> usize {
    let mut in_services = false;
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("services:") {
            in_services = true;
            continue;
        }
        if in_services {
            if !l.starts_with(' ') && !l.trim().is_empty() && !l.starts_with('#') {
                in_services = false;
                continue;
            }
            let t = l.trim_start().trim_matches(['"', '\'']);
            let t = t.trim_end();
            if t == format!("{name}:")
                || t.starts_with(&format!("{name}:"))
                    && t[name.len() + 1..]
                        .trim_start()
                        .starts_with(['{', '&', '#'])
            {
                return i + 1;
            }
        }
    }
    1
}

/// Group `files` (path, text) into projects and merge each.
pub fn projects(files: &[(&str, &str)]) -> Vec<Project> {
    let mut parsed: Vec<(&str, &str, Mapping)> = files
        .iter()
        .filter(|(p, _)| is_compose(p))
        .filter_map(|(p, t)| parse(t).map(|m| (*p, *t, m)))
        .collect();
    parsed.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    let mut used = vec![false; parsed.len()];
    // Bases first, with their overrides; then overlays onto a base.
    for i in 0..parsed.len() {
        if !is_base(parsed[i].0) || used[i] {
            continue;
        }
        used[i] = true;
        let dir = dir_of(parsed[i].0);
        let mut members = vec![i];
        for j in 0..parsed.len() {
            if !used[j] && dir_of(parsed[j].0) == dir && is_override(parsed[j].0) {
                used[j] = true;
                members.push(j);
            }
        }
        out.push(build(&parsed, &members));
        // Overlays: files in the same directory that only refine services
        // the base defines (compose -f compose.yaml -f compose.prod.yaml).
        for j in 0..parsed.len() {
            if used[j] || dir_of(parsed[j].0) != dir {
                continue;
            }
            let refines = parsed[j].2.iter().all(|(k, v)| {
                parsed[i].2.contains_key(k) && v.get("image").is_none() && v.get("build").is_none()
            });
            if refines && !parsed[j].2.is_empty() {
                used[j] = true;
                let mut m = members.clone();
                m.push(j);
                out.push(build(&parsed, &m));
            }
        }
    }
    for (j, _) in used.iter().enumerate().filter(|(_, u)| !**u) {
        out.push(build(&parsed, &[j]));
    }
    out
}

fn build(parsed: &[(&str, &str, Mapping)], members: &[usize]) -> Project {
    let mut services: Vec<Service> = Vec::new();
    for &m in members {
        let (path, text, map) = &parsed[m];
        for (k, v) in map {
            let name = scalar(k);
            match services.iter_mut().find(|s| s.name == name) {
                Some(s) => merge(&mut s.def, v),
                None => services.push(Service {
                    line: service_line(text, &name),
                    name,
                    file: path.to_string(),
                    def: if v.is_null() {
                        Value::Mapping(Mapping::new())
                    } else {
                        v.clone()
                    },
                }),
            }
        }
    }
    Project {
        files: members.iter().map(|&m| parsed[m].0.to_string()).collect(),
        services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_merge_and_quotes_parse() {
        let base = "services:\n  app:\n    build: .\n    restart: \"no\"\n  cache:\n    image: 'redis:7'\n";
        let over = "services:\n  app:\n    read_only: true\n";
        let p = projects(&[("compose.yaml", base), ("compose.override.yaml", over)]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].services.len(), 2);
        assert_eq!(p[0].services[1].image(), Some("redis:7"));
        assert_eq!(p[0].services[1].line, 5);
        assert!(p[0].services[0].one_off());
        assert_eq!(p[0].services[0].get("read_only"), Some(&Value::Bool(true)));
    }

    #[test]
    fn ports() {
        assert_eq!(
            short_port("127.0.0.1:5432:5432"),
            ("127.0.0.1".into(), "5432".into())
        );
        assert_eq!(short_port("6379:6379"), (String::new(), "6379".into()));
        assert_eq!(short_port("[::1]:80:80/tcp"), ("::1".into(), "80".into()));
    }
}
