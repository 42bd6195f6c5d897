//! Containers and compose: non-root images, health checks, pinned images
//! (Dockerfiles and compose), and compose services hardened one by one
//! after overrides are merged. A service without compose on ECS is judged
//! by its task definitions.

use std::collections::BTreeSet;

use serde_norway::Value;

use super::facts::{service_is, Ctx};
use super::probe::Outcome;
use super::report::Evidence;
use super::walk::*;
use super::{gap, pass};
use crate::detect::compose::Service;
use Outcome::{Gap, Na, Pass};

/// Tags that move: aliases, distribution codenames, Node codenames.
const FLOATING_TAGS: &[&str] = &[
    "latest", "lts", "current", "stable", "edge", "mainline", "alpine", "slim", "bookworm",
    "bullseye", "buster", "stretch", "jammy", "noble", "focal", "argon", "boron", "carbon",
    "dubnium", "erbium", "fermium", "gallium", "hydrogen", "iron", "jod",
];
const STORES: &[&str] = &[
    "postgres",
    "postgis/postgis",
    "bitnami/postgresql",
    "mysql",
    "mariadb",
    "mongo",
    "redis",
    "bitnami/redis",
    "valkey/valkey",
    "bitnami/mongodb",
    "bitnami/mysql",
];

fn dockerfiles<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo.matching(is_dockerfile).collect()
}

fn ecs(ctx: &Ctx) -> Option<Evidence> {
    ctx.repo
        .first(is_tf, rx!(r#"resource\s+"aws_ecs_task_definition""#))
}

fn fargate(ctx: &Ctx) -> Option<Evidence> {
    ctx.repo.first(
        is_tf,
        rx!(r#"(requires_compatibilities|launch_type)\s*=.*FARGATE"#),
    )
}

/// Why an image reference floats, or None when it names a fixed version
/// (at least major.minor) or a digest.
pub fn floating(image: &str) -> Option<&'static str> {
    if image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let Some((_, tag)) = last.split_once(':') else {
        return Some("no tag (latest)");
    };
    let t = tag.to_ascii_lowercase();
    let head = t.trim_start_matches('v');
    if rx!(r"^\d+\.\d+").is_match(head) {
        return None;
    }
    if rx!(r"^\d+($|[-_])").is_match(head) {
        return Some("a major-only tag");
    }
    if FLOATING_TAGS
        .iter()
        .any(|f| t == *f || t.split(['-', '_']).any(|p| p == *f))
    {
        return Some("an alias or codename tag");
    }
    Some("a tag without a version")
}

pub fn pinned(ctx: &Ctx) -> Outcome {
    let files = dockerfiles(ctx);
    let services: Vec<&Service> = ctx.compose.iter().flat_map(|p| p.services.iter()).collect();
    if files.is_empty() && services.is_empty() {
        return gap("no Dockerfile");
    }
    let from = rx!(r"(?i)^\s*FROM\s+(--platform=\S+\s+)?(\S+)(\s+AS\s+(\S+))?");
    let mut bad = Vec::new();
    let mut proof = Vec::new();
    for f in files {
        let mut stages: BTreeSet<String> = BTreeSet::new();
        for (i, l) in f.text.lines().enumerate() {
            let Some(c) = from.captures(l) else { continue };
            let image = c[2].to_string();
            // A later stage built on an earlier one pins nothing new.
            let earlier_stage = stages.contains(&image.to_ascii_lowercase());
            if let Some(s) = c.get(4) {
                stages.insert(s.as_str().to_ascii_lowercase());
            }
            if earlier_stage || image == "scratch" || image.contains('$') {
                continue;
            }
            match floating(&image) {
                None => proof.push(ev(&f.path, i + 1, l)),
                Some(_) => bad.push(ev(&f.path, i + 1, l)),
            }
        }
    }
    // Images this repository builds (a service with build: and image:).
    let built: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.builds())
        .filter_map(|s| s.image())
        .collect();
    let mut seen: BTreeSet<(String, usize)> = BTreeSet::new();
    for s in &services {
        // Built here, or chosen at deploy time: not a base image to pin.
        let Some(image) = s
            .image()
            .filter(|i| !i.contains('$') && !s.builds() && !built.contains(i))
        else {
            continue;
        };
        if !seen.insert((s.file.clone(), s.line)) {
            continue;
        }
        let e = line_in_service(ctx, s, &[image]);
        match floating(image) {
            None => proof.push(e),
            Some(_) => bad.push(e),
        }
    }
    if !bad.is_empty() {
        return Gap(
            bad,
            "images float (no tag, latest, an alias or codename, or a major-only tag)".into(),
        );
    }
    Pass(proof, "every image names a fixed version or digest".into())
}

pub fn healthcheck(ctx: &Ctx) -> Outcome {
    let files = dockerfiles(ctx);
    if files.is_empty() {
        if let (Some(_), Some(h)) = (ecs(ctx), orchestrator_health(ctx)) {
            return pass(h, "ECS or the load balancer checks the container's health");
        }
        return gap("no Dockerfile");
    }
    let hc = rx!(r"(?i)^\s*HEALTHCHECK\s+");
    let none = rx!(r"(?i)^\s*HEALTHCHECK\s+NONE");
    let mut proof = Vec::new();
    for f in files {
        match grep_file(f, hc)
            .into_iter()
            .find(|e| !none.is_match(&e.text))
        {
            Some(e) => proof.push(e),
            None => {
                // A compose health check on the service built from it also counts.
                // So does ECS's or the load balancer's.
                let built = ctx
                    .prod_services()
                    .into_iter()
                    .find(|s| s.builds() && has_healthcheck(s))
                    .map(|s| ev(&s.file, s.line, &format!("{}:", s.name)))
                    .or_else(|| ecs(ctx).and_then(|_| orchestrator_health(ctx)));
                match built {
                    Some(e) => proof.push(e),
                    None => return gap(format!("{} has no HEALTHCHECK", f.path)),
                }
            }
        }
    }
    Pass(
        proof,
        "the orchestrator can tell a hung process from a live one".into(),
    )
}

/// An ECS container health check or a load balancer target group's.
fn orchestrator_health(ctx: &Ctx) -> Option<Evidence> {
    ctx.repo
        .first(is_tf, rx!(r#"healthCheck|^\s*health_check\s*\{"#))
}

fn has_healthcheck(s: &Service) -> bool {
    s.get("healthcheck").is_some_and(|h| {
        h.get("disable") != Some(&Value::Bool(true))
            && (h.get("test").is_some() || h.get("interval").is_some())
    })
}

/// A health check, or `healthcheck: {disable: true}`: a decision written in
/// the file for a review to see (an image with nothing to probe with), not
/// one forgotten.
fn checks_or_declines_health(s: &Service) -> bool {
    has_healthcheck(s)
        || s.get("healthcheck")
            .is_some_and(|h| h.get("disable") == Some(&Value::Bool(true)))
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().map(crate::detect::compose::scalar).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The first line of a compose service's definition containing one of
/// `needles`, as evidence (the service's own line when none does).
fn line_in_service(ctx: &Ctx, s: &Service, needles: &[&str]) -> Evidence {
    let line = ctx.repo.get(&s.file).and_then(|f| {
        f.text
            .lines()
            .enumerate()
            .skip(s.line.saturating_sub(1))
            .find(|(_, l)| needles.iter().any(|n| l.contains(n)))
            .map(|(i, l)| ev(&f.path, i + 1, l))
    });
    line.unwrap_or_else(|| ev(&s.file, s.line, &format!("{}:", s.name)))
}

/// A check every production compose service must pass.
fn every_service(
    ctx: &Ctx,
    ok: fn(&Service) -> bool,
    what: &str,
    skip_one_offs: bool,
    ecs_fallback: Option<(&regex::Regex, &str)>,
) -> Outcome {
    let services = ctx.prod_services();
    if services.is_empty() {
        if let (Some(_), Some((re, detail))) = (ecs(ctx), ecs_fallback) {
            return match ctx.repo.first(is_tf, re) {
                Some(e) => pass(e, detail),
                None => gap(format!(
                    "no compose file, and the ECS task definitions lack {what}"
                )),
            };
        }
        return gap("no compose file for production");
    }
    let services: Vec<&Service> = services
        .into_iter()
        .filter(|s| !(skip_one_offs && s.one_off()))
        .collect();
    if services.is_empty() {
        return Na("only one-off compose services (restart: \"no\" or profiles)".into());
    }
    let missing: Vec<&&Service> = services.iter().filter(|s| !ok(s)).collect();
    if missing.is_empty() {
        let first = services
            .first()
            .map(|s| ev(&s.file, s.line, &format!("{}:", s.name)));
        return Pass(
            first.into_iter().collect(),
            format!("{what} on all {} services", services.len()),
        );
    }
    Gap(
        missing
            .iter()
            .map(|s| ev(&s.file, s.line, &format!("{}:", s.name)))
            .collect(),
        format!(
            "{what} missing on {}",
            missing
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

pub fn cap_drop(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        |s| {
            strings(s.get("cap_drop"))
                .iter()
                .any(|c| c.eq_ignore_ascii_case("ALL"))
        },
        "cap_drop ALL",
        false,
        Some((
            rx!(r#""?drop"?\s*[:=]\s*\[\s*"ALL""#),
            "ECS containers drop every capability",
        )),
    )
}

pub fn no_new_privileges(ctx: &Ctx) -> Outcome {
    if ctx.prod_services().is_empty() && ecs(ctx).is_some() {
        if let Some(e) = fargate(ctx) {
            return pass(
                e,
                "Fargate tasks cannot gain privileges (no privileged mode, no setuid host access)",
            );
        }
    }
    every_service(
        ctx,
        |s| {
            strings(s.get("security_opt"))
                .iter()
                .any(|o| o.starts_with("no-new-privileges") && !o.ends_with(":false"))
        },
        "no-new-privileges",
        false,
        None,
    )
}

pub fn read_only(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        |s| truthy(s.get("read_only")),
        "read_only: true",
        false,
        Some((
            rx!(r#"readonlyRootFilesystem"?\s*[:=]\s*true"#),
            "ECS containers have read-only root filesystems",
        )),
    )
}

pub fn limits(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        |s| {
            s.get("mem_limit").is_some()
                || s.get("deploy")
                    .and_then(|d| d.get("resources"))
                    .and_then(|r| r.get("limits"))
                    .and_then(|l| l.get("memory"))
                    .is_some()
        },
        "a memory limit",
        false,
        Some((
            rx!(r#"^\s*"?memory"?\s*[:=]\s*"?\d+"#),
            "ECS task definitions cap memory",
        )),
    )
}

pub fn health(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        checks_or_declines_health,
        "a healthcheck",
        true,
        Some((
            rx!(r#"healthCheck|^\s*health_check\s*\{"#),
            "ECS or the load balancer checks each task's health",
        )),
    )
}

pub fn privileged(ctx: &Ctx) -> Outcome {
    let services: Vec<&Service> = ctx.compose.iter().flat_map(|p| p.services.iter()).collect();
    if services.is_empty() {
        if ecs(ctx).is_some() {
            if let Some(e) = fargate(ctx) {
                return pass(e, "Fargate tasks cannot be privileged or share the host");
            }
        }
        return gap("no compose file for production");
    }
    let mut bad = Vec::new();
    for s in &services {
        let host = |k: &str| matches!(s.get(k), Some(Value::String(v)) if v == "host");
        let sock = strings(s.get("volumes"))
            .iter()
            .any(|v| v.contains("/var/run/docker.sock"));
        if truthy(s.get("privileged")) || host("network_mode") || host("pid") || sock {
            bad.push(line_in_service(
                ctx,
                s,
                &["privileged", "docker.sock", "network_mode", "pid:"],
            ));
        }
    }
    bad.dedup();
    if bad.is_empty() {
        Pass(
            Vec::new(),
            format!("none of {} services is privileged", services.len()),
        )
    } else {
        Gap(bad, "a container can take over the host".into())
    }
}

/// Databases and Redis published on every interface are reachable by
/// anyone who can reach the host; 127.0.0.1 (or no ports) keeps them private.
pub fn stores_private(ctx: &Ctx) -> Outcome {
    let stores: Vec<&Service> = ctx
        .compose
        .iter()
        .flat_map(|p| p.services.iter())
        .filter(|s| service_is(s, STORES))
        .collect();
    if stores.is_empty() {
        return Na("no data store in compose".into());
    }
    let mut open: Vec<Evidence> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for s in &stores {
        for (ip, port) in s.published() {
            let local = matches!(ip.as_str(), "127.0.0.1" | "::1" | "localhost");
            if !local {
                let shown = if port.is_empty() {
                    "an ephemeral port".to_string()
                } else {
                    port
                };
                names.push(format!("{} ({shown})", s.name));
                let e = ev(&s.file, s.line, &format!("{}:", s.name));
                if !open.contains(&e) {
                    open.push(e);
                }
            }
        }
    }
    if open.is_empty() {
        Pass(
            vec![ev(
                &stores[0].file,
                stores[0].line,
                &format!("{}:", stores[0].name),
            )],
            format!(
                "{} data store services publish nothing beyond 127.0.0.1",
                stores.len()
            ),
        )
    } else {
        Gap(
            open,
            format!(
                "published on all interfaces (0.0.0.0): {}",
                names.join(", ")
            ),
        )
    }
}

pub fn non_root(ctx: &Ctx) -> Outcome {
    let files = dockerfiles(ctx);
    if files.is_empty() {
        return gap("no Dockerfile");
    }
    let mut proof = Vec::new();
    for f in files {
        // The last stage is the image that runs.
        let lines: Vec<&str> = f.text.lines().collect();
        let start = lines
            .iter()
            .rposition(|l| rx!(r"(?i)^\s*FROM\s").is_match(l))
            .unwrap_or(0);
        let user = lines[start..]
            .iter()
            .enumerate()
            .rfind(|(_, l)| rx!(r"(?i)^\s*USER\s+\S").is_match(l));
        match user {
            Some((i, l)) => {
                let who = l.split_whitespace().nth(1).unwrap_or("");
                let name = who.split(':').next().unwrap_or("");
                if name == "root" || name == "0" {
                    return Gap(
                        vec![ev(&f.path, start + i + 1, l)],
                        "the final stage runs as root".into(),
                    );
                }
                proof.push(ev(&f.path, start + i + 1, l));
            }
            None => {
                return Gap(
                    vec![ev(&f.path, start + 1, lines.get(start).unwrap_or(&""))],
                    format!("{}'s final stage has no USER: it runs as root", f.path),
                )
            }
        }
    }
    Pass(proof, "containers run as an unprivileged user".into())
}

pub fn dockerignore(ctx: &Ctx) -> Outcome {
    let Some(f) = ctx.repo.files.iter().find(|f| f.path == ".dockerignore") else {
        return gap("no .dockerignore: .env and .git go into the build context");
    };
    let has = |want: &[&str]| {
        f.text
            .lines()
            .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/'))
            .any(|l| want.contains(&l) || l == "**" || l == "*")
    };
    let env = has(&[".env", ".env*", ".env.*", "**/.env", "**/.env*"]);
    let git = has(&[".git", "**/.git"]);
    match (env, git) {
        (true, true) => pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            ".env files and .git stay out of images",
        ),
        (false, _) => gap(".dockerignore does not exclude .env files"),
        (_, false) => gap(".dockerignore does not exclude .git"),
    }
}

#[cfg(test)]
mod tests {
    use super::floating;

    #[test]
    fn floating_tags() {
        for i in [
            "node",
            "node:latest",
            "node:lts-buster-slim",
            "node:carbon",
            "python:3",
            "node:22-alpine",
            "redis:alpine",
            "postgres:16",
        ] {
            assert!(floating(i).is_some(), "{i}");
        }
        for i in [
            "node:22.20.0-bookworm-slim",
            "python:3.12-slim",
            "redis:7.2.7-bookworm",
            "certbot/certbot:v3.0.1",
            "localhost:5000/app:1.2",
            "node@sha256:0123",
        ] {
            assert_eq!(floating(i), None, "{i}");
        }
    }
}
