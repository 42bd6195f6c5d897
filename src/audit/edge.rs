//! The edge: TLS, HSTS, rate limits and CORS, wherever they are set
//! (nginx, Traefik, Caddy, a load balancer, or the app).

use super::facts::Ctx;
use super::probe::{first_probe, Outcome, Probe};
use super::report::Evidence;
use super::walk::*;
use super::{gap, node_dep, pass, py_dep};
use Outcome::{Gap, Pass};

/// A Caddyfile site block for a domain: Caddy serves it over HTTPS with
/// TLS 1.2+ and redirects plain HTTP.
pub const CADDY_SITE: &str =
    r"^(https://)?[a-z0-9*][a-z0-9.*-]*\.[a-z]{2,}(:443)?(\s*,\s*\S+)*\s*\{";

/// Where TLS 1.2+ holds without a protocol list (the default of the proxy).
const TLS_DEFAULTS: &[Probe] = &[
    Probe {
        kind: is_edge,
        pattern: r"(?i)minVersion\s*[:=]\s*['\x22]?VersionTLS1[23]",
        unless: None,
        detail: "Traefik's TLS options require TLS 1.2 or newer",
    },
    Probe {
        kind: is_edge,
        pattern: r"(?i)certresolver|certificatesresolvers",
        unless: None,
        detail: "Traefik terminates TLS with ACME certificates; its default minimum is TLS 1.2",
    },
    Probe {
        kind: is_caddy,
        pattern: CADDY_SITE,
        unless: None,
        detail: "Caddy serves its sites with TLS 1.2 and 1.3 only by default",
    },
    Probe {
        kind: is_tf,
        pattern: r#"ssl_policy\s*=\s*"ELBSecurityPolicy-(TLS13-1-2|TLS-1-2|FS-1-2)"#,
        unless: None,
        detail: "the load balancer's policy accepts only TLS 1.2 and newer",
    },
];

pub fn tls_protocols(ctx: &Ctx) -> Outcome {
    let lines = ctx.repo.grep(is_conf, rx!(r"^\s*ssl_protocols\s+[^;]*;"));
    let mut weak: Vec<Evidence> = lines
        .iter()
        .filter(|e| {
            e.text
                .trim_start()
                .trim_start_matches("ssl_protocols")
                .trim_end_matches(';')
                .split_whitespace()
                .any(|p| p != "TLSv1.2" && p != "TLSv1.3")
        })
        .cloned()
        .collect();
    weak.extend(ctx.repo.grep(
        is_edge,
        rx!(r"(?i)minVersion\s*[:=]\s*['\x22]?VersionTLS1[01]\b"),
    ));
    weak.extend(
        ctx.repo
            .grep(is_caddy, rx!(r"^\s*protocols\s+tls1\.[01]\b")),
    );
    if !weak.is_empty() {
        return Gap(weak, "older protocols than TLS 1.2 are allowed".into());
    }
    if let Some(e) = lines.into_iter().next() {
        return pass(e, "nginx accepts only TLS 1.2 and 1.3");
    }
    first_probe(ctx, TLS_DEFAULTS)
        .unwrap_or_else(|| gap("no TLS termination with ssl_protocols TLSv1.2 TLSv1.3 found"))
}

pub fn tls_hsts(ctx: &Ctx) -> Outcome {
    let mut lines = ctx.repo.grep(
        is_code_or_conf,
        rx!(r"(?i)Strict-Transport-Security.*max-age=\d+"),
    );
    lines.extend(
        ctx.repo
            .grep(is_edge, rx!(r"(?i)stsSeconds\s*[:=]\s*['\x22]?\d+")),
    );
    for e in &lines {
        // The value can sit on the next line ({ key: ..., value: ... }).
        let next = ctx
            .repo
            .get(&e.file)
            .and_then(|f| f.text.lines().nth(e.line))
            .unwrap_or("");
        let age: u64 = rx!(r"(?i)(max-age=|stsSeconds\s*[:=]\s*['\x22]?)(\d+)")
            .captures(&format!("{} {next}", e.text))
            .and_then(|c| c[2].parse().ok())
            .unwrap_or(0);
        if age >= 15_552_000 {
            return pass(e.clone(), "Strict-Transport-Security is sent");
        }
    }
    if !lines.is_empty() {
        return Gap(
            lines,
            "HSTS max-age is shorter than 180 days (15552000)".into(),
        );
    }
    if let Some(e) = node_dep(ctx, &["helmet"]) {
        return pass(e, "helmet sends Strict-Transport-Security by default");
    }
    gap("no Strict-Transport-Security header")
}

pub fn rl_requests(ctx: &Ctx) -> Outcome {
    let zone = ctx.repo.first(is_conf, rx!(r"^\s*limit_req_zone\s"));
    let applied = ctx.repo.first(is_conf, rx!(r"^\s*limit_req\s+zone="));
    match (zone, applied) {
        (Some(z), Some(a)) => return Pass(vec![z, a], "nginx limits requests per client".into()),
        (Some(z), None) => {
            return Gap(
                vec![z],
                "a limit_req_zone is defined but no location applies it".into(),
            )
        }
        _ => {}
    }
    if let Some(e) = ctx
        .repo
        .first(is_edge, rx!(r"(?i)ratelimit\.average|^\s*rateLimit:"))
    {
        return pass(e, "Traefik limits request rates");
    }
    if let Some(e) = ctx.repo.first(is_caddy, rx!(r"^\s*rate_limit\b")) {
        return pass(e, "Caddy limits request rates");
    }
    if let Some(e) = node_dep(
        ctx,
        &[
            "express-rate-limit",
            "rate-limiter-flexible",
            "@fastify/rate-limit",
        ],
    )
    .or_else(|| py_dep(ctx, &["slowapi", "fastapi-limiter"]))
    {
        return pass(e, "the app limits request rates");
    }
    gap("no limit_req_zone / limit_req, nor a rate-limit library")
}

pub fn cors_allowlist(ctx: &Ctx) -> Outcome {
    let wildcard: Vec<Evidence> = [
        rx!(r#"(?i)Access-Control-Allow-Origin['"]?\s*[:,]?\s*['"]?\*"#),
        rx!(r#"allow_origins\s*=\s*\[\s*['"]\*['"]"#),
        rx!(r#"origin:\s*['"]\*['"]"#),
        rx!(r"\bcors\(\s*\)"),
        rx!(r"(?i)^\s*CORS_(ALLOWED_)?ORIGINS\s*[=:]\s*['\x22]?\*"),
    ]
    .iter()
    .flat_map(|r| {
        ctx.repo.grep(
            |p| is_code_or_conf(p) || is_env_example(p) || is_env_file(p),
            r,
        )
    })
    .collect();
    if !wildcard.is_empty() {
        return Gap(wildcard, "any origin is allowed (*)".into());
    }
    if let Some(e) = ctx.repo.first(
        is_conf,
        rx!(r"(?i)add_header\s+['\x22]?Access-Control-Allow-Origin"),
    ) {
        return pass(e, "nginx answers CORS for listed origins only");
    }
    if let Some(e) = ctx.repo.first(
        |p| is_env_example(p) || is_compose(p) || is_code_or_conf(p),
        rx!(r"(?i)\bCORS_(ALLOWED_)?ORIGINS\b|allow_origins\s*=|ALLOWED_ORIGINS"),
    ) {
        return pass(e, "CORS origins come from an explicit list");
    }
    gap("no CORS policy found")
}
