//! The Kubernetes target's monitoring and backups (deploy/k8s/base/monitoring
//! and deploy/k8s/base/backup): the PrometheusRules carry compose's alert
//! rules rule for rule, promtool passes compose's unit tests and the cluster
//! rules' own on them, the CronJobs run byte-identical copies of scripts/*,
//! on a schedule that keeps the backup interval, and the backup and restore
//! test CronJobs' commands work against a real Postgres.

use crate::common;

use common::kubernetes_ops::{
    cronjob_command, http_get, kustomize_build, localize, longest_gap_hours,
};
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
    ("app", "NginxDown"),
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

/// GitHub's anchor for a Markdown heading: lower case, punctuation dropped,
/// spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every `runbook_url` of a rule file (compose's or a PrometheusRule):
/// `(alert, url)`.
fn runbook_urls(text: &str) -> Vec<(String, String)> {
    let doc: Value = serde_norway::from_str(text).unwrap();
    let groups = doc["spec"]["groups"]
        .as_sequence()
        .or_else(|| doc["groups"].as_sequence())
        .expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .filter(|r| r.get("alert").is_some())
        .map(|r| {
            let url = r["annotations"]["runbook_url"].as_str();
            let name = alert_name(r).to_string();
            let url = url.unwrap_or_else(|| panic!("{name} has no runbook_url"));
            (name, url.to_string())
        })
        .collect()
}

/// The inline code spans of `markdown` that are kubectl commands.
fn kubectl_spans(markdown: &str) -> Vec<String> {
    markdown
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("kubectl "))
        .map(String::from)
        .collect()
}

/// Whether kubectl accepts `command` (run by bash in `dir`): with a
/// kubeconfig naming a closed port, a command that parses gets as far as
/// calling the API server and is refused; a bad flag, subcommand or
/// argument count fails before that with a usage error.
fn kubectl_parses(dir: &Path, kubeconfig: &Path, command: &str) -> (bool, String) {
    let kubectl = require_tool("kubectl");
    let path = format!(
        "{}:{}",
        kubectl.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new("bash")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        !out.status.success()
            && (text.contains("connection refused") || text.contains("was refused")),
        text,
    )
}

#[test]
fn every_alert_links_a_runbook_section_and_its_kubectl_commands_parse() {
    let scratch = tempfile::tempdir().unwrap();
    let kubeconfig = scratch.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: closed, cluster: {{server: \"https://127.0.0.1:{}\"}}}}]\n\
             users: [{{name: nobody, user: {{token: none}}}}]\n\
             contexts: [{{name: closed, context: {{cluster: closed, user: nobody}}}}]\n\
             current-context: closed\n",
            common::free_port()
        ),
    )
    .unwrap();
    let (mut urls, mut commands) = (0, 0);
    // The same command with another namespace parses the same: each is run once.
    let mut tried = std::collections::BTreeSet::new();
    for preset in presets() {
        let k8s = init_preset_with(&preset, &[K8S]);
        let runbook = k8s.read("docs/RUNBOOK.md");
        let anchors: Vec<String> = runbook
            .lines()
            .filter_map(|l| l.strip_prefix("### "))
            .map(anchor)
            .collect();
        let rule_files: Vec<String> = k8s
            .files()
            .into_iter()
            .filter(|f| {
                (f.starts_with("monitoring/prometheus/rules/") && f.ends_with(".yml"))
                    || (f.starts_with(&format!("{MONITORING}/prometheusrule-"))
                        && f.ends_with(".yaml"))
            })
            .collect();
        let prometheus_rules = rule_files.iter().filter(|f| f.starts_with(MONITORING));
        assert!(prometheus_rules.count() >= 2, "{preset}: {rule_files:?}");
        for file in &rule_files {
            for (alert, url) in runbook_urls(&k8s.read(file)) {
                let (page, fragment) = url.split_once('#').unwrap_or((&url, ""));
                assert_eq!(page, "docs/RUNBOOK.md", "{preset}/{file}: {alert}");
                assert!(
                    anchors.iter().any(|a| a == fragment),
                    "{preset}/{file}: {alert}'s runbook_url {url} has no section"
                );
                urls += 1;
            }
        }
        // The cluster's sections give kubectl commands; each must parse.
        let spans = kubectl_spans(&runbook);
        assert!(spans.len() >= 10, "{preset}: {spans:?}");
        let namespace = format!("-n {} ", preset_service(&k8s));
        for command in spans {
            if !tried.insert(command.replace(&namespace, "-n NAMESPACE ")) {
                continue;
            }
            let (ok, text) = kubectl_parses(k8s.path(), &kubeconfig, &command);
            assert!(
                ok,
                "{preset}: the runbook's `{command}` does not parse:\n{text}"
            );
            commands += 1;
        }
    }
    // The check rejects what kubectl would: a misspelt flag, a bad verb.
    for bad in [
        "kubectl -n x logs POD --previus",
        "kubectl -n x rolout undo deployment/app",
        "kubectl -n x create job manual --from=cronjob/a extra",
    ] {
        let (ok, text) = kubectl_parses(scratch.path(), &kubeconfig, bad);
        assert!(!ok, "`{bad}` passed:\n{text}");
    }
    eprintln!("{urls} runbook_urls resolved, {commands} kubectl commands parsed");
}

#[test]
fn the_front_end_server_serves_the_build_and_spa_routes_with_its_rendered_config() {
    use std::os::unix::fs::PermissionsExt;
    let k8s = init_preset_with("fastapi-three-tier", &[K8S]);
    // The built base: the Deployment as applied, with the generated
    // ConfigMap it mounts.
    let docs = kustomize_build(&k8s.path().join("deploy/k8s/base"));
    let web = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "web")
        .expect("a web Deployment");
    let pod = &web["spec"]["template"]["spec"];
    let mounted = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .unwrap();
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == mounted)
        .unwrap_or_else(|| panic!("no ConfigMap {mounted}"))["data"]["nginx.conf"]
        .as_str()
        .unwrap();
    assert_eq!(config, k8s.read("deploy/k8s/base/web-nginx.conf"));
    let c = &pod["containers"][0];
    let container_port = c["ports"][0]["containerPort"].as_u64().unwrap();

    // The pod's folders as local directories; nginx here starts as root and
    // serves as nobody, so they are world-readable (the pod's uid 10101
    // reads the image's files the same way).
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = |name: &str| {
        let d = work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let (config_dir, tmp, html) = (dir("config"), dir("tmp"), dir("html"));
    let mut mounts: BTreeMap<&str, &Path> = BTreeMap::new();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let here = match m["mountPath"].as_str().unwrap() {
            "/etc/nginx/web" => config_dir.as_path(),
            "/tmp" => tmp.as_path(),
            other => panic!("no local directory for {other}"),
        };
        mounts.insert(m["mountPath"].as_str().unwrap(), here);
    }
    mounts.insert("/usr/share/nginx/html", html.as_path());
    let port = common::free_port();
    let listen = format!("listen {container_port};");
    assert!(config.contains(&listen), "{config}");
    let local_config =
        localize(config, &mounts).replace(&listen, &format!("listen 127.0.0.1:{port};"));
    std::fs::write(config_dir.join("nginx.conf"), local_config).unwrap();

    // A build as Vite writes it: index.html and hashed assets.
    std::fs::create_dir_all(html.join("assets")).unwrap();
    let index =
        "<!doctype html><title>calls</title><script src=\"/assets/index-3f2a.js\"></script>\n";
    std::fs::write(html.join("index.html"), index).unwrap();
    std::fs::write(html.join("assets/index-3f2a.js"), "console.log('calls');\n").unwrap();

    let argv: Vec<String> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| localize(a.as_str().unwrap(), &mounts))
        .collect();
    assert_eq!(argv[0], "nginx");
    let mut server = common::Server(
        Command::new(require_tool("nginx"))
            .args(&argv[1..])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    server.wait_for_port(port, "the front end's nginx");

    let (status, kind, body) = http_get(port, "/");
    assert_eq!(
        (status, kind.as_str(), body.as_str()),
        (200, "text/html", index)
    );
    // A client-side route: index.html, for the front end's router.
    let (status, kind, body) = http_get(port, "/calls/42");
    assert_eq!(
        (status, kind.as_str(), body.as_str()),
        (200, "text/html", index)
    );
    let (status, kind, body) = http_get(port, "/assets/index-3f2a.js");
    assert_eq!(status, 200);
    assert!(kind.contains("javascript"), "{kind}");
    assert_eq!(body, "console.log('calls');\n");
    // The probes' paths answer as the Deployment expects.
    for probe in ["livenessProbe", "readinessProbe"] {
        let path = c[probe]["httpGet"]["path"].as_str().unwrap();
        assert_eq!(http_get(port, path).0, 200, "{probe} {path}");
    }
    // Without a build the image is not ready: a clear 503, not a 403 or a loop.
    std::fs::remove_file(html.join("index.html")).unwrap();
    let (status, _, body) = http_get(port, "/calls/42");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not built"), "{body}");
    let readiness = c["readinessProbe"]["httpGet"]["path"].as_str().unwrap();
    assert_eq!(http_get(port, readiness).0, 503);
    // Its pid and temp files went to the /tmp volume, nowhere else.
    assert!(tmp.join("nginx.pid").exists());
}

/// Metric families the rules read, and the exporter image (compose's) that
/// produces each.
const METRIC_SOURCES: &[(&str, &str, &str)] = &[
    ("pg_", "postgres", "postgres-exporter"),
    ("redis_", "redis", "redis-exporter"),
];

/// Labels of a selector map, as (key, value) pairs.
fn label_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn selects(selector: &[(String, String)], labels: &Value) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.get(k.as_str()).and_then(Value::as_str) == Some(v))
}

#[test]
fn exporters_run_in_the_cluster_under_the_job_names_the_rules_select() {
    let job_selector = regex::Regex::new(r#"\bjob\s*=~?\s*"([^"]+)""#).unwrap();
    let mut checked = 0;
    for preset in presets() {
        let k8s = init_preset_with(&preset, &[K8S]);
        let compose: Value = serde_norway::from_str(&k8s.read("compose.prod.yaml")).unwrap();
        let docs = kustomize_build(&k8s.path().join(MONITORING));
        let of = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
        // job => the images of the pods its monitor scrapes.
        let mut jobs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for monitor in of("ServiceMonitor").chain(of("PodMonitor")) {
            let endpoints = monitor["spec"]["endpoints"]
                .as_sequence()
                .or_else(|| monitor["spec"]["podMetricsEndpoints"].as_sequence())
                .unwrap();
            let relabel = &endpoints[0]["relabelings"][0];
            assert_eq!(relabel["targetLabel"], "job", "{preset}");
            let job = relabel["replacement"].as_str().unwrap().to_string();
            let selector = label_pairs(&monitor["spec"]["selector"]["matchLabels"]);
            // A ServiceMonitor selects Services, whose selector picks pods.
            let pod_selector = if monitor["kind"] == "ServiceMonitor" {
                of("Service")
                    .find(|s| selects(&selector, &s["metadata"]["labels"]))
                    .map(|s| label_pairs(&s["spec"]["selector"]))
            } else {
                Some(selector)
            };
            let images = pod_selector
                .map(|sel| {
                    of("Deployment")
                        .filter(|d| selects(&sel, &d["spec"]["template"]["metadata"]["labels"]))
                        .flat_map(|d| {
                            d["spec"]["template"]["spec"]["containers"]
                                .as_sequence()
                                .unwrap()
                                .iter()
                                .map(|c| c["image"].as_str().unwrap().to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            jobs.insert(job, images);
        }
        for rule_doc in of("PrometheusRule") {
            for g in rule_doc["spec"]["groups"].as_sequence().unwrap() {
                for r in g["rules"].as_sequence().unwrap() {
                    let expr = r["expr"].as_str().unwrap();
                    let cluster = expr.contains("kube_");
                    for m in job_selector.captures_iter(expr) {
                        let job = &m[1];
                        assert!(
                            cluster || jobs.contains_key(job),
                            "{preset}: {} selects job {job}; the monitors give {:?}",
                            alert_name(r),
                            jobs.keys()
                        );
                    }
                    for (prefix, job, service) in METRIC_SOURCES {
                        let reads = expr
                            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .any(|w| w.starts_with(prefix));
                        if !reads {
                            continue;
                        }
                        let want = compose["services"][*service]["image"].as_str();
                        let want =
                            want.unwrap_or_else(|| panic!("{preset}: compose has no {service}"));
                        assert_eq!(
                            jobs.get(*job).map(Vec::as_slice),
                            Some([want.to_string()].as_slice()),
                            "{preset}: {} reads {prefix}*, which nothing scrapes as job {job}",
                            alert_name(r)
                        );
                        checked += 1;
                    }
                }
            }
        }
        // Each exporter: scraped from Prometheus's namespace on its port,
        // out to its store's port only.
        for (_, job, name) in METRIC_SOURCES {
            let Some(deployment) = of("Deployment").find(|d| d["metadata"]["name"] == *name) else {
                assert!(!jobs.contains_key(*job), "{preset}: {job} without {name}");
                continue;
            };
            let port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]
                ["containerPort"]
                .clone();
            let policy = of("NetworkPolicy")
                .find(|p| p["metadata"]["name"] == *name)
                .unwrap_or_else(|| panic!("{preset}: no NetworkPolicy for {name}"));
            assert!(selects(
                &label_pairs(&policy["spec"]["podSelector"]["matchLabels"]),
                &deployment["spec"]["template"]["metadata"]["labels"]
            ));
            let ingress = &policy["spec"]["ingress"];
            assert_eq!(ingress.as_sequence().unwrap().len(), 1, "{preset}/{name}");
            assert_eq!(
                ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]
                    ["kubernetes.io/metadata.name"],
                "monitoring"
            );
            assert_eq!(ingress[0]["ports"][0]["port"], port, "{preset}/{name}");
            let store_port = if *job == "postgres" { 5432 } else { 6379 };
            let egress = policy["spec"]["egress"].as_sequence().unwrap();
            let ports: Vec<&Value> = egress
                .iter()
                .flat_map(|e| e["ports"].as_sequence().unwrap())
                .map(|p| &p["port"])
                .collect();
            assert_eq!(ports, [&Value::from(store_port)], "{preset}/{name}");
        }
    }
    assert!(checked >= 10, "only {checked} exporter rules checked");
    eprintln!("{checked} exporter-backed rules matched to a monitor and compose's image");
}
