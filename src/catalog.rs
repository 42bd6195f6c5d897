//! The catalog: which template renders to which path, when, with which mode.
//!
//! One table, data not code. A template's path under `templates/` is the
//! output path plus `.tera` (with a `.node`/`.fastapi`-style variant before
//! it where the runtime picks one), so a newcomer finds where a generated
//! file comes from by its path alone. Conditions are named predicates over
//! the profile, so the table reads as a sentence: "deploy/redis/redis.conf,
//! when the profile has Redis".

use crate::profile::{Profile, Runtime, TlsMode, VoiceProvider};

/// Unix permission bits of a generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    File,
    Executable,
}

impl Mode {
    pub fn bits(self) -> u32 {
        match self {
            Mode::File => 0o644,
            Mode::Executable => 0o755,
        }
    }
}

/// Files rendered once per deployment environment get `{env}` in their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Each {
    Once,
    Environment,
}

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Path under `templates/`.
    pub template: &'static str,
    /// Output path relative to the target directory (`{env}` expands).
    pub dest: &'static str,
    pub when: fn(&Profile) -> bool,
    pub mode: Mode,
    pub each: Each,
}

const fn file(template: &'static str, dest: &'static str, when: fn(&Profile) -> bool) -> Entry {
    Entry {
        template,
        dest,
        when,
        mode: Mode::File,
        each: Each::Once,
    }
}

const fn script(template: &'static str, dest: &'static str, when: fn(&Profile) -> bool) -> Entry {
    Entry {
        template,
        dest,
        when,
        mode: Mode::Executable,
        each: Each::Once,
    }
}

#[allow(dead_code)] // the per-environment Terraform entries use it
const fn per_env(template: &'static str, dest: &'static str, when: fn(&Profile) -> bool) -> Entry {
    Entry {
        template,
        dest,
        when,
        mode: Mode::File,
        each: Each::Environment,
    }
}

// Conditions. Keep them one line each: the table is the documentation.
pub fn always(_: &Profile) -> bool {
    true
}
pub fn node(p: &Profile) -> bool {
    p.service.runtime == Runtime::Node
}
pub fn fastapi(p: &Profile) -> bool {
    p.service.runtime == Runtime::Fastapi
}
pub fn postgres(p: &Profile) -> bool {
    p.postgres.enabled
}
pub fn redis(p: &Profile) -> bool {
    p.redis.enabled
}
pub fn worker(p: &Profile) -> bool {
    p.worker.enabled
}
pub fn voice(p: &Profile) -> bool {
    p.voice.provider != VoiceProvider::None
}
pub fn twilio_node(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Twilio && node(p)
}
pub fn twilio_fastapi(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Twilio && fastapi(p)
}
pub fn ringcentral_node(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Ringcentral && node(p)
}
pub fn ringcentral_fastapi(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Ringcentral && fastapi(p)
}
pub fn letsencrypt(p: &Profile) -> bool {
    p.edge.tls == TlsMode::Letsencrypt
}
pub fn monitoring(p: &Profile) -> bool {
    p.monitoring.enabled
}
pub fn monitoring_postgres(p: &Profile) -> bool {
    p.monitoring.enabled && p.postgres.enabled
}
pub fn monitoring_redis(p: &Profile) -> bool {
    p.monitoring.enabled && p.redis.enabled
}

/// Every file shipready can write, grouped by area. Order is output order.
pub const CATALOG: &[Entry] = &[
    // Container and compose (issue: core)
    file("Dockerfile.node.tera", "Dockerfile", node),
    file("Dockerfile.fastapi.tera", "Dockerfile", fastapi),
    script("docker-entrypoint.sh.tera", "docker-entrypoint.sh", always),
    file(".dockerignore.tera", ".dockerignore", always),
    file(".env.example.tera", ".env.example", always),
    file(".hadolint.yaml.tera", ".hadolint.yaml", always),
    file(".yamllint.yaml.tera", ".yamllint.yaml", always),
    file("compose.yaml.tera", "compose.yaml", always),
    file("compose.prod.yaml.tera", "compose.prod.yaml", always),
    file("secrets/.gitignore.tera", "secrets/.gitignore", always),
    script(
        "scripts/init-secrets.sh.tera",
        "scripts/init-secrets.sh",
        always,
    ),
    // Edge and cache (issue: edge)
    // AWS (issue: terraform)
    // CI/CD (issue: workflows)
    // Observability and backups (issue: observability)
    // Load testing (issue: loadtest)
    file(
        "loadtest/locustfile.py.tera",
        "loadtest/locustfile.py",
        always,
    ),
    file("loadtest/shapes.py.tera", "loadtest/shapes.py", always),
    file(
        "loadtest/requirements.txt.tera",
        "loadtest/requirements.txt",
        always,
    ),
    file("loadtest/README.md.tera", "loadtest/README.md", always),
    file(
        ".github/workflows/loadtest.yml.tera",
        ".github/workflows/loadtest.yml",
        always,
    ),
];

/// Directory under `templates/` holding files that are included by other
/// templates and never rendered on their own.
pub const PARTIALS_DIR: &str = "_partials/";

/// The template set version file.
pub const VERSION_FILE: &str = "VERSION";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;
    use std::collections::BTreeSet;

    #[test]
    fn every_catalog_template_resolves() {
        let t = Templates::embedded();
        for e in CATALOG {
            assert!(
                t.contains(e.template),
                "catalog names {} but templates/ has no such file",
                e.template
            );
        }
    }

    #[test]
    fn every_template_is_in_the_catalog_or_a_partial() {
        let named: BTreeSet<&str> = CATALOG.iter().map(|e| e.template).collect();
        for name in Templates::embedded().names() {
            assert!(
                named.contains(name.as_str()) || name.starts_with(PARTIALS_DIR),
                "templates/{name} is neither in the catalog nor under {PARTIALS_DIR}"
            );
        }
    }

    #[test]
    fn template_paths_mirror_output_paths() {
        for e in CATALOG {
            let stem = e.template.trim_end_matches(".tera");
            let dest = e.dest.replace("{env}", "env");
            let stem = stem.replace("{env}", "env");
            // Either the exact output path, or the output path with one
            // variant segment (Dockerfile.node for Dockerfile).
            let ok =
                stem == dest || stem.rsplit_once('.').is_some_and(|(head, _)| head == dest) || {
                    let (dir, name) = stem.rsplit_once('/').unwrap_or(("", &stem));
                    let (ddir, dname) = dest.rsplit_once('/').unwrap_or(("", &dest));
                    dir == ddir && dname.split('.').next() == name.split('.').next()
                };
            assert!(ok, "{} does not mirror {}", e.template, e.dest);
        }
    }
}
