//! `shipready audit`: an empty repository, a partial one with known gaps,
//! and every preset's output (which must score full marks).

use crate::common;

use common::Run;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn audit_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "audit".to_string(),
        dir.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = Run::new().args(args).run();
    let json: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit --format json printed no JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    });
    (out.code, json)
}

fn checks(report: &Value) -> Vec<&Value> {
    report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .collect()
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    checks(report)
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

fn status(report: &Value, id: &str) -> String {
    check(report, id)["status"].as_str().unwrap().to_string()
}

fn evidence(report: &Value, id: &str) -> Vec<String> {
    check(report, id)["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["file"].as_str().unwrap(), e["line"]))
        .collect()
}

fn fix(report: &Value, id: &str) -> Vec<String> {
    check(report, id)["fix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// Every gap names the files that close it; every evidence line is real.
fn assert_well_formed(dir: &Path, report: &Value) {
    for c in checks(report) {
        let id = c["id"].as_str().unwrap();
        match c["status"].as_str().unwrap() {
            "gap" => {
                let fix = fix(report, id);
                assert!(!fix.is_empty(), "gap {id} names no fix");
                assert!(
                    !c["detail"].as_str().unwrap().is_empty(),
                    "gap {id} says nothing"
                );
            }
            "pass" | "not_applicable" => assert!(c["fix"].as_array().unwrap().is_empty(), "{id}"),
            other => panic!("{id}: status {other}"),
        }
        for e in c["evidence"].as_array().unwrap() {
            let file = e["file"].as_str().unwrap();
            let line = e["line"].as_u64().unwrap() as usize;
            let text = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|err| panic!("{id}: {file}: {err}"));
            let actual = text
                .lines()
                .nth(line - 1)
                .unwrap_or_else(|| panic!("{id}: {file} has no line {line}"));
            let shown = e["text"].as_str().unwrap().trim_end_matches('…');
            // Secret values are masked ("KEY=…"); everything else is the line itself.
            assert!(
                actual.trim().starts_with(shown)
                    || actual.trim().starts_with(shown.trim_end_matches('=')),
                "{id}: evidence {file}:{line} says {shown:?} but the line is {actual:?}"
            );
        }
    }
}

#[test]
fn an_empty_repository_scores_zero_and_every_gap_says_what_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = audit_json(dir.path(), &[]);
    assert_eq!(code, 1, "gaps are findings: exit 1");
    let (code, _) = audit_json(dir.path(), &["--exit-zero"]);
    assert_eq!(code, 0, "--exit-zero: findings alone do not fail");
    let (code, _) = audit_json(dir.path(), &["--exit-zero", "--min-score", "1"]);
    assert_eq!(code, 1, "--min-score still applies with --exit-zero");
    assert_eq!(report["score"], 0);
    assert_well_formed(dir.path(), &report);
    let gaps: Vec<&Value> = checks(&report)
        .into_iter()
        .filter(|c| c["status"] == "gap")
        .collect();
    assert!(
        gaps.len() >= 30,
        "only {} gaps in an empty repository",
        gaps.len()
    );
    // Gaps point at the areas that close them.
    assert!(fix(&report, "tls.protocols")
        .iter()
        .all(|f| f.starts_with("deploy/nginx/")));
    assert!(fix(&report, "compose.cap_drop").contains(&"compose.prod.yaml".to_string()));
    assert!(fix(&report, "containers.non_root").contains(&"Dockerfile".to_string()));
    assert!(fix(&report, "alerts.tests")
        .iter()
        .all(|f| f.starts_with("monitoring/prometheus/tests/")));
    assert!(fix(&report, "runbook.doc").contains(&"docs/RUNBOOK.md".to_string()));
    // Without a data store there is nothing to encrypt or back up.
    assert_eq!(status(&report, "encryption.postgres"), "not_applicable");
    assert_eq!(status(&report, "backups.postgres"), "not_applicable");

    let (code, _) = audit_json(dir.path(), &["--min-score", "1"]);
    assert_eq!(code, 1, "below --min-score exits 1");
}

fn partial_repo() -> tempfile::TempDir {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/partial");
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&src, dir.path());
    // A committed .env with a value (written here so the project's own
    // repository never holds one).
    std::fs::write(dir.path().join(".env"), "DB_PASSWORD=hunter2\nPORT=3000\n").unwrap();
    dir
}

#[test]
fn a_partial_repository_reports_each_known_gap_with_its_fix() {
    let dir = partial_repo();
    let (code, report) = audit_json(dir.path(), &[]);
    assert_eq!(code, 1, "gaps exit 1");
    assert_well_formed(dir.path(), &report);

    // What it has, with file:line.
    assert_eq!(status(&report, "tls.hsts"), "pass");
    assert_eq!(evidence(&report, "tls.hsts"), ["nginx/app.conf:7"]);
    assert_eq!(status(&report, "ci.workflow"), "pass");
    assert_eq!(
        evidence(&report, "ci.workflow"),
        [".github/workflows/ci.yml:3"]
    );
    assert_eq!(status(&report, "redis.policy"), "pass");
    assert_eq!(
        evidence(&report, "redis.policy"),
        ["redis.conf:2", "redis.conf:3"]
    );
    assert_eq!(status(&report, "runbook.doc"), "pass");

    // Known gaps, each with the offending line where there is one.
    let known: &[(&str, &[&str])] = &[
        ("tls.protocols", &["nginx/app.conf:6"]),
        ("cors.allowlist", &["nginx/app.conf:8"]),
        ("secrets.store", &[".env:1"]),
        ("secrets.literals", &["docker-compose.yml:13"]),
        ("containers.non_root", &["Dockerfile:1"]),
        // postgres:16 floats across minor releases.
        (
            "containers.pinned",
            &["Dockerfile:1", "docker-compose.yml:11"],
        ),
        (
            "compose.cap_drop",
            &["docker-compose.yml:2", "docker-compose.yml:10"],
        ),
        ("compose.no_privileged", &["docker-compose.yml:15"]),
        (
            "ci.pinned",
            &[".github/workflows/ci.yml:10", ".github/workflows/ci.yml:11"],
        ),
        ("tls.redirect", &[]),
        ("headers.nosniff", &[]),
        ("ratelimit.requests", &[]),
        ("secrets.example", &[]),
        ("containers.healthcheck", &[]),
        ("containers.dockerignore", &[]),
        (
            "compose.read_only",
            &[
                "docker-compose.yml:2",
                "docker-compose.yml:10",
                "docker-compose.yml:16",
            ],
        ),
        ("encryption.postgres", &[]),
        ("encryption.redis", &[]),
        ("redis.aof", &[]),
        ("backups.postgres", &[]),
        ("backups.restore_test", &[]),
        ("backups.redis", &[]),
        ("alerts.rules", &[]),
        ("alerts.tests", &[]),
        ("ci.scans", &[]),
        ("ci.permissions", &[".github/workflows/ci.yml:1"]),
        ("deploy.workflow", &[]),
        ("deploy.rollback", &[]),
        ("iac.terraform", &[]),
        ("environments.config", &[]),
        ("runbook.restore", &[]),
    ];
    for (id, ev) in known {
        assert_eq!(status(&report, id), "gap", "{id}: {:#}", check(&report, id));
        assert_eq!(evidence(&report, id), *ev, "{id}");
        assert!(!fix(&report, id).is_empty(), "{id} has no fix");
    }
    // Secret values are never printed.
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("s3cr3t-literal"),
        "a secret value leaked"
    );
    // The fixes name the right areas.
    assert!(fix(&report, "redis.aof")
        .iter()
        .all(|f| f.starts_with("deploy/redis/")));
    assert!(fix(&report, "iac.terraform")
        .iter()
        .all(|f| f.starts_with("infra/terraform/")));
    assert!(fix(&report, "backups.postgres")
        .iter()
        .all(|f| f.starts_with("scripts/backup")));
    let score = report["score"].as_u64().unwrap();
    assert!((1..40).contains(&score), "partial score {score}");
}

#[test]
fn text_report_is_a_table_per_category_with_evidence_and_fixes() {
    let dir = partial_repo();
    let out = Run::new()
        .args([
            "audit",
            &dir.path().display().to_string(),
            "--min-score",
            "90",
        ])
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let s = &out.stdout;
    for heading in [
        "TLS and HSTS",
        "Security headers",
        "Rate limiting",
        "CORS",
        "Secrets out of the repository",
        "Containers",
        "Hardened compose",
        "Encrypted data stores",
        "Redis persistence",
        "Backups and restore tests",
        "Alerts and their tests",
        "CI with scans",
        "Deploy with rollback",
        "Infrastructure as code",
        "Separate environments",
        "Runbook",
    ] {
        assert!(
            s.lines().any(|l| l.starts_with(heading)),
            "no table for {heading}:\n{s}"
        );
    }
    assert!(
        s.contains("nginx/app.conf:7  add_header Strict-Transport-Security"),
        "{s}"
    );
    assert!(s.contains("fix: `shipready init` adds"), "{s}");
    assert!(s.contains("is below --min-score 90"), "{s}");
    assert!(!s.contains('\u{1b}'), "colour without a terminal");
}

#[test]
fn usage_errors() {
    let out = Run::new()
        .args(["audit", "/nonexistent/shipready-audit"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = Run::new().args(["audit", ".", "--min-score", "101"]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// Expected to fail until every area's templates are merged: a repository
/// freshly generated by any preset must close the whole checklist.
#[test]
fn every_preset_scores_full_marks() {
    let mut failures = Vec::new();
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let (code, report) = audit_json(run.path(), &["--min-score", "100"]);
        assert_well_formed(run.path(), &report);
        if code != 0 || report["score"] != 100 {
            let gaps: Vec<String> = checks(&report)
                .into_iter()
                .filter(|c| c["status"] == "gap")
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["id"].as_str().unwrap(),
                        c["detail"].as_str().unwrap()
                    )
                })
                .collect();
            failures.push(format!(
                "{preset}: score {} (exit {code})\n    {}",
                report["score"],
                gaps.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "presets below 100:\n{}",
        failures.join("\n")
    );
}

/// The walker follows git's ignore rules and never enters node_modules:
/// an ignored .env is not a finding, a committed one is, and nothing under
/// node_modules is read.
#[test]
fn ignored_files_and_node_modules_are_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(".gitignore", ".env\nlocal/\n");
    w(".env", "DB_PASSWORD=hunter2\n");
    w("local/.env.production", "API_KEY=abc123realvalue\n");
    w("config/.env.production", "API_KEY=abc123realvalue\n");
    w("node_modules/pkg/Dockerfile", "FROM node\n");
    w("node_modules/pkg/.env", "TOKEN=abc123realvalue\n");
    let (code, report) = audit_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(status(&report, "secrets.store"), "gap");
    assert_eq!(
        evidence(&report, "secrets.store"),
        ["config/.env.production:1"]
    );
    // The only Dockerfile is under node_modules: none was read.
    assert_eq!(status(&report, "containers.pinned"), "gap");
    assert!(evidence(&report, "containers.pinned").is_empty());
    // The fix names the preset init would use, and exact files.
    assert!(report["init"]["adds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| !f.as_str().unwrap().ends_with('/')));
}
