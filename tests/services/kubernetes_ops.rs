//! The Kubernetes target's monitoring and backups (deploy/k8s/base/monitoring
//! and deploy/k8s/base/backup): the PrometheusRules carry compose's alert
//! rules rule for rule, promtool passes compose's unit tests and the cluster
//! rules' own on them, the CronJobs run byte-identical copies of scripts/*,
//! on a schedule that keeps the backup interval, and the backup and restore
//! test CronJobs' commands work against a real Postgres.

use crate::common;

use common::kubernetes_ops::{cronjob_command, kustomize_build, longest_gap_hours};
use common::postgres::Postgres;
use common::{init_preset_with, presets, require_tool, Run};
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const K8S: &str = "deploy.target=kubernetes";
const MONITORING: &str = "deploy/k8s/base/monitoring";
const BACKUP: &str = "deploy/k8s/base/backup";

/// Compose rule files with no PrometheusRule copy (prometheusrule-cluster.yaml
/// says why).
const FILES_LEFT_OUT: &[&str] = &["alerting", "backup", "host"];
/// Alerts of copied files that the copy leaves out (prometheusrule-app.yaml
/// says why).
const ALERTS_LEFT_OUT: &[(&str, &str)] = &[
    ("app", "TargetDown"),
    ("app", "EndpointDown"),
    ("app", "TlsCertificateExpiring"),
];

fn yaml(run: &Run, rel: &str) -> Value {
    serde_norway::from_str(&run.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn stems(run: &Run, dir: &str, suffix: &str) -> Vec<String> {
    run.files()
        .iter()
        .filter_map(|f| f.strip_prefix(dir)?.strip_suffix(suffix).map(String::from))
        .filter(|s| !s.contains('/'))
        .collect()
}

fn alert_name(rule: &Value) -> &str {
    rule["alert"].as_str().unwrap_or_default()
}

/// `groups` with the alerts of `file` that the cluster copy leaves out
/// removed, and groups left empty dropped.
fn without_left_out(file: &str, groups: &Value) -> Vec<Value> {
    let dropped = |r: &Value| ALERTS_LEFT_OUT.contains(&(file, alert_name(r)));
    groups
        .as_sequence()
        .expect("groups")
        .iter()
        .filter_map(|g| {
            let mut g = g.clone();
            let rules = g["rules"].as_sequence_mut().expect("rules");
            rules.retain(|r| !dropped(r));
            (!rules.is_empty()).then_some(g)
        })
        .collect()
}

/// Each preset rendered for ECS (compose's rules) and for Kubernetes.
fn both_targets(preset: &str) -> (Run, Run) {
    (
        init_preset_with(preset, &[]),
        init_preset_with(preset, &[K8S]),
    )
}

#[test]
fn prometheus_rules_are_the_compose_rules_less_the_stated_exclusions() {
    for preset in presets() {
        let (compose, k8s) = both_targets(&preset);
        let compose_files = stems(&compose, "monitoring/prometheus/rules/", ".yml");
        let copied = stems(&k8s, &format!("{MONITORING}/prometheusrule-"), ".yaml");
        assert!(!compose_files.is_empty(), "{preset}: no compose rules");
        let mut compared = 0;
        for file in &compose_files {
            if FILES_LEFT_OUT.contains(&file.as_str()) {
                assert!(
                    !copied.contains(file),
                    "{preset}: {file} is copied but listed as left out"
                );
                continue;
            }
            assert!(
                copied.contains(file),
                "{preset}: rules/{file}.yml has no PrometheusRule"
            );
            let theirs = yaml(&compose, &format!("monitoring/prometheus/rules/{file}.yml"));
            let ours = yaml(&k8s, &format!("{MONITORING}/prometheusrule-{file}.yaml"));
            assert_eq!(ours["kind"].as_str(), Some("PrometheusRule"));
            assert_eq!(
                ours["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
                Some(preset_service(&k8s).as_str())
            );
            let want = without_left_out(file, &theirs["groups"]);
            let got = ours["spec"]["groups"].as_sequence().expect("spec.groups");
            assert_eq!(got.len(), want.len(), "{preset}/{file}: groups differ");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g["name"], w["name"], "{preset}/{file}");
                let (gr, wr) = (
                    g["rules"].as_sequence().unwrap(),
                    w["rules"].as_sequence().unwrap(),
                );
                assert_eq!(gr.len(), wr.len(), "{preset}/{file}/{:?}", g["name"]);
                for (a, b) in gr.iter().zip(wr) {
                    assert_eq!(a, b, "{preset}/{file}: rule {} differs", alert_name(b));
                    compared += 1;
                }
            }
            // Every stated exclusion names an alert compose really has,
            // so the list cannot go stale.
            for (f, alert) in ALERTS_LEFT_OUT.iter().filter(|(f, _)| f == file) {
                let all = theirs["groups"].as_sequence().unwrap();
                assert!(
                    all.iter()
                        .flat_map(|g| g["rules"].as_sequence().unwrap())
                        .any(|r| alert_name(r) == *alert),
                    "{preset}: {f}.yml has no {alert} to leave out"
                );
            }
        }
        assert!(compared >= 8, "{preset}: only {compared} rules compared");
        // The cluster's own rules, and only this service's namespace.
        assert!(copied.contains(&"cluster".to_string()), "{preset}");
        let cluster = k8s.read(&format!("{MONITORING}/prometheusrule-cluster.yaml"));
        let ns = format!("namespace=\"{}\"", preset_service(&k8s));
        let cluster: Value = serde_norway::from_str(&cluster).unwrap();
        for g in cluster["spec"]["groups"].as_sequence().unwrap() {
            for r in g["rules"].as_sequence().unwrap() {
                let expr = r["expr"].as_str().unwrap();
                assert!(
                    expr.contains(&ns),
                    "{preset}: {} is not scoped: {expr}",
                    alert_name(r)
                );
                assert!(r["annotations"]["runbook_url"]
                    .as_str()
                    .is_some_and(|u| u.contains("#")));
            }
        }
    }
}

fn preset_service(run: &Run) -> String {
    let k: Value =
        serde_norway::from_str(&run.read(&format!("{MONITORING}/kustomization.yaml"))).unwrap();
    k["namespace"].as_str().unwrap().to_string()
}

/// A compose unit test file with the test cases of left-out alerts removed.
fn compose_tests_for_cluster(file: &str, text: &str) -> String {
    let mut doc: Value = serde_norway::from_str(text).unwrap();
    for t in doc["tests"].as_sequence_mut().unwrap() {
        if let Some(cases) = t
            .get_mut("alert_rule_test")
            .and_then(|c| c.as_sequence_mut())
        {
            cases.retain(|c| {
                !ALERTS_LEFT_OUT.contains(&(file, c["alertname"].as_str().unwrap_or_default()))
            });
        }
    }
    serde_norway::to_string(&doc).unwrap()
}

#[test]
fn promtool_passes_compose_tests_and_cluster_tests_on_the_extracted_rules() {
    let promtool = require_tool("promtool");
    // compose's app tests take seconds each: the presets run side by side.
    let presets = presets();
    std::thread::scope(|s| {
        for preset in &presets {
            let promtool = &promtool;
            s.spawn(move || promtool_on_the_extracted_rules(promtool, preset));
        }
    });
}

fn promtool_on_the_extracted_rules(promtool: &Path, preset: &str) {
    {
        let k8s = init_preset_with(preset, &[K8S]);
        let scratch = tempfile::tempdir().unwrap();
        let (rules, cluster_tests) = shipready::verify::prometheus_rule::extract(
            &k8s.path().join(MONITORING),
            scratch.path(),
        )
        .unwrap();
        assert!(
            rules.contains(&"rules/cluster.yml".to_string()),
            "{preset}: {rules:?}"
        );
        assert!(
            cluster_tests.contains(&"tests/cluster.test.yml".to_string()),
            "{preset}: {cluster_tests:?}"
        );
        // compose's own unit tests, on the PrometheusRules' copy of the rules
        // (the validator below runs the cluster rules' tests).
        let mut tests = Vec::new();
        for rule in &rules {
            let file = rule.trim_start_matches("rules/").trim_end_matches(".yml");
            if file == "cluster" {
                continue;
            }
            let text = k8s.read(&format!("monitoring/prometheus/tests/{file}.test.yml"));
            let rel = format!("tests/{file}.test.yml");
            std::fs::write(
                scratch.path().join(&rel),
                compose_tests_for_cluster(file, &text),
            )
            .unwrap();
            tests.push(rel);
        }
        assert!(!tests.is_empty(), "{preset}: {tests:?}");
        let out = Command::new(promtool)
            .current_dir(scratch.path())
            .args(["test", "rules"])
            .args(&tests)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{preset}: promtool test rules {tests:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // And `shipready verify`'s validator passes on the folder.
        let paths = k8s.files();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let findings =
            shipready::verify::check_only(k8s.path(), &paths, &["promtool-prometheusrule"]);
        assert_eq!(findings.len(), 1, "{preset}");
        assert_eq!(
            findings[0].result,
            Ok(shipready::verify::Outcome::Pass),
            "{preset}"
        );
    }
}

#[test]
fn the_validator_fails_a_broken_cluster_rule_test() {
    let k8s = init_preset_with("prisma-voice", &[K8S]);
    let test = k8s.path().join(MONITORING).join("tests/cluster.test.yml");
    let text = std::fs::read_to_string(&test).unwrap();
    std::fs::write(&test, text.replace("severity: warning", "severity: page")).unwrap();
    let paths = k8s.files();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let findings = shipready::verify::check_only(k8s.path(), &paths, &["promtool-prometheusrule"]);
    assert!(
        matches!(&findings[0].result, Ok(shipready::verify::Outcome::Fail(e)) if e.contains("PodRestarting")),
        "{:?}",
        findings[0].result
    );
}

#[test]
fn backup_cronjobs_run_byte_identical_scripts_hardened() {
    let mut inline_programs = 0;
    for preset in presets() {
        let k8s = init_preset_with(&preset, &[K8S]);
        let has_postgres = k8s
            .files()
            .iter()
            .any(|f| f == "scripts/backup-postgres.sh");
        let docs = kustomize_build(&k8s.path().join(BACKUP));
        if !has_postgres {
            // Redis alone: ElastiCache snapshots, nothing scheduled here.
            assert!(docs.is_empty(), "{preset}: {docs:?}");
            continue;
        }
        let config = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .unwrap_or_else(|| panic!("{preset}: no ConfigMap"));
        let data = config["data"].as_mapping().unwrap();
        assert_eq!(data.len(), 2, "{preset}");
        for (name, body) in data {
            let name = name.as_str().unwrap();
            assert_eq!(
                body.as_str().unwrap().as_bytes(),
                std::fs::read(k8s.path().join("scripts").join(name)).unwrap(),
                "{preset}: the ConfigMap's {name} is not scripts/{name}"
            );
        }
        let cronjobs: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "CronJob").collect();
        assert_eq!(cronjobs.len(), 2, "{preset}");
        for cj in cronjobs {
            let spec = &cj["spec"];
            assert_eq!(spec["concurrencyPolicy"], "Forbid");
            assert!(spec["successfulJobsHistoryLimit"].as_u64().is_some());
            assert!(spec["failedJobsHistoryLimit"].as_u64().is_some());
            let job = &spec["jobTemplate"]["spec"];
            assert!(job["backoffLimit"].as_u64().is_some());
            assert!(job["activeDeadlineSeconds"].as_u64().is_some());
            let pod = &job["template"]["spec"];
            assert_eq!(pod["serviceAccountName"], "backup");
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            assert_eq!(
                pod["securityContext"]["seccompProfile"]["type"],
                "RuntimeDefault"
            );
            let c = &pod["containers"][0];
            // An inline `bash -c` program gets the scripts' shellcheck.
            if let Some(program) = c["args"][0].as_str() {
                let file = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(file.path(), program).unwrap();
                let out = Command::new(require_tool("shellcheck"))
                    .args(["--shell=bash", "--severity=style"])
                    .arg(file.path())
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{preset}: {}",
                    String::from_utf8_lossy(&out.stdout)
                );
                inline_programs += 1;
            }
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
            let scripts_volume = pod["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "scripts")
                .unwrap();
            assert_eq!(
                scripts_volume["configMap"]["name"], config["metadata"]["name"],
                "{preset}: the CronJob does not mount the generated ConfigMap"
            );
        }
    }
    // Presets with Postgres and a persistent Redis name the newest backup.
    assert!(inline_programs > 0);
}

#[test]
fn backup_schedule_keeps_the_interval() {
    for hours in [1u32, 5, 6, 12, 24, 48, 100, 168] {
        let k8s = init_preset_with(
            "prisma-voice",
            &[K8S, &format!("backup.interval_hours={hours}")],
        );
        let cj = yaml(&k8s, &format!("{BACKUP}/cronjob-backup-postgres.yaml"));
        let schedule = cj["spec"]["schedule"].as_str().unwrap();
        assert_eq!(cj["spec"]["timeZone"], "Etc/UTC");
        let gap = longest_gap_hours(schedule);
        assert!(
            gap <= i64::from(hours),
            "{hours} h: {schedule} leaves {gap} h"
        );
        // Where the day divides evenly, runs are exactly the interval apart.
        if 24 % hours == 0 || hours == 24 {
            assert_eq!(gap, i64::from(hours), "{hours} h: {schedule}");
        }
    }
}

#[test]
fn backup_and_restore_test_cronjobs_run_against_a_real_postgres() {
    use std::os::unix::fs::PermissionsExt;
    let k8s = init_preset_with("prisma-voice", &[K8S]);
    let backup = yaml(&k8s, &format!("{BACKUP}/cronjob-backup-postgres.yaml"));
    let verify = yaml(&k8s, &format!("{BACKUP}/cronjob-verify-backup.yaml"));
    let env_of = |cj: &Value, name: &str| -> String {
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap()
            .to_string()
    };
    let (user, db) = (env_of(&backup, "PGUSER"), env_of(&backup, "PGDATABASE"));

    let pg = Postgres::start();
    // RDS takes an IAM token as the password; here a stand-in `aws` hands
    // out this role's password only when asked for a token for this host,
    // port and user, which the CronJob's wrapper must ask for.
    let password = "backup-role-password";
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{password}'"),
    );
    pg.psql("postgres", &format!("CREATE DATABASE {db} OWNER {user}"));
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE calls (id int PRIMARY KEY, caller text);
             INSERT INTO calls SELECT g, 'caller ' || g FROM generate_series(1, 42) g;
             ALTER TABLE calls OWNER TO {user}"
        ),
    );

    // The Secrets' files, as the pods see them at /run/secrets/backup.
    let work = tempfile::tempdir().unwrap();
    let dir = |name: &str| {
        let d = work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let (backup_secret, verify_secret, scratch, dest) =
        (dir("backup"), dir("verify"), dir("scratch"), dir("dest"));
    let identity = verify_secret.join("age_identity");
    Command::new(require_tool("age-keygen"))
        .arg("-o")
        .arg(&identity)
        .output()
        .unwrap();
    let public = Command::new(require_tool("age-keygen"))
        .arg("-y")
        .arg(&identity)
        .output()
        .unwrap();
    std::fs::write(backup_secret.join("age_recipients"), &public.stdout).unwrap();
    for d in [&backup_secret, &verify_secret] {
        for f in std::fs::read_dir(d).unwrap() {
            std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o440))
                .unwrap();
        }
    }
    let scripts = k8s.path().join(BACKUP);
    let secrets: BTreeMap<&str, String> = [
        ("pghost", "127.0.0.1".to_string()),
        ("backup_dest", dest.display().to_string()),
    ]
    .into();
    // The test server listens on a free port, without TLS.
    let fake_bin = dir("bin");
    let fake_aws = fake_bin.join("aws");
    std::fs::write(
        &fake_aws,
        format!(
            "#!/bin/sh\n[ \"$*\" = \"rds generate-db-auth-token --hostname 127.0.0.1 --port {port} --username {user}\" ] \
             || {{ echo \"unexpected: aws $*\" >&2; exit 1; }}\necho '{password}'\n",
            port = pg.port
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake_aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    let overrides = [
        ("PGPORT", pg.port.to_string()),
        ("PGSSLMODE", "disable".to_string()),
        (
            "PATH",
            format!("{}:{}", fake_bin.display(), std::env::var("PATH").unwrap()),
        ),
    ];
    let run = |cj: &Value, secret: &Path| {
        let mounts: BTreeMap<&str, &Path> = [
            ("/opt/backup", scripts.as_path()),
            ("/run/secrets/backup", secret),
            ("/scratch", scratch.as_path()),
        ]
        .into();
        let out = cronjob_command(cj, &mounts, &secrets, &overrides)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    };

    let log = run(&backup, &backup_secret);
    assert!(log.contains("1 tables"), "{log}");
    let written: Vec<_> = std::fs::read_dir(dest.join("postgres"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].ends_with(".pgdump.tar.age"), "{written:?}");

    let log = run(&verify, &verify_secret);
    assert!(log.contains("1 tables match the manifest"), "{log}");
    assert!(log.contains("42 rows"), "{log}");
    // The scratch database is gone again.
    let left = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'verify_%'",
    );
    assert_eq!(left, "0");
}

#[test]
fn scrape_objects_carry_the_chart_label_and_the_compose_job_names() {
    let k8s = init_preset_with("twilio-voice", &[K8S, "worker.metrics_port=9464"]);
    let service = preset_service(&k8s);
    let docs = kustomize_build(&k8s.path().join(MONITORING));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for kind in ["ServiceMonitor", "PodMonitor", "PrometheusRule"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for d in &docs {
        // kube-prometheus-stack's default selectors: release=<release name>.
        assert_eq!(
            d["metadata"]["labels"]["release"], "kube-prometheus-stack",
            "{:?}",
            d["metadata"]["name"]
        );
        assert_eq!(d["metadata"]["namespace"].as_str(), Some(service.as_str()));
    }
    let job_of = |kind: &str, endpoints: &str| -> (Value, Value) {
        let d = docs.iter().find(|d| d["kind"] == kind).unwrap();
        let e = &d["spec"][endpoints][0];
        let relabel = &e["relabelings"][0];
        assert_eq!(relabel["targetLabel"], "job");
        (e.clone(), relabel["replacement"].clone())
    };
    let (app, job) = job_of("ServiceMonitor", "endpoints");
    assert_eq!(job, "app");
    assert_eq!(app["port"], "http");
    let profile: toml::Value = toml::from_str(&k8s.read("shipready.toml")).unwrap();
    let metrics_path = profile["profile"]["service"]["metrics_path"]
        .as_str()
        .unwrap();
    assert_eq!(app["path"].as_str(), Some(metrics_path));
    let (worker, job) = job_of("PodMonitor", "podMetricsEndpoints");
    assert_eq!(job, "worker");
    assert_eq!(worker["targetPort"], 9464);
    // compose's Prometheus scrapes the same two jobs.
    let compose = k8s.read("monitoring/prometheus/prometheus.yml");
    assert!(compose.contains("job_name: app") && compose.contains("job_name: worker"));
}
