//! Observability: for every preset, every alert is documented and has a
//! firing and a quiet unit test, the unit tests follow the profile's
//! thresholds and catch a broken rule, the monitoring services in
//! compose.prod.yaml are hardened with monitoring on and off, and the real
//! Alertmanager refuses to start without its receivers.
//!
//! The validators themselves (promtool check rules / test rules / check
//! config, amtool check-config, shellcheck) run over every preset once, in
//! tests/validators/validators.rs through `verify --strict`; here they run only on
//! files these tests change.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::alerting::{http, init_secrets_in_temp, start_alertmanager, Sink, Started};
use common::{
    free_port, init_preset, init_preset_with, must_pass, outcome, presets, profile_of, tool_in, Run,
};
use shipready::profile::VoiceProvider;

const RULES: &str = "monitoring/prometheus/rules";
const TESTS: &str = "monitoring/prometheus/tests";

fn yml_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    out.sort();
    out
}

/// `promtool test rules` on one test file of `root`: passed, and its output.
fn promtool_test(root: &Path, file: &str) -> (bool, String) {
    outcome(tool_in(root, "promtool").args(["test", "rules", &format!("{TESTS}/{file}")]))
}

/// Every alert defined in a rules file, with the text of its rule.
fn alerts_in(rules: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in rules.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert: ") {
            if let Some((n, body)) = current.take() {
                out.insert(n, body);
            }
            current = Some((name.trim().to_string(), String::new()));
        } else if t.starts_with("- name: ") {
            if let Some((n, body)) = current.take() {
                out.insert(n, body);
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        out.insert(n, body);
    }
    out
}

/// (firing, quiet) alert names of a promtool test file: an `alertname:`
/// followed by `exp_alerts: []` is a quiet case, by a list a firing one.
fn cases_in(tests: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    let mut pending: Option<String> = None;
    for line in tests.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("alertname: ") {
            pending = Some(name.trim().to_string());
        } else if let Some(rest) = t.strip_prefix("exp_alerts:") {
            let name = pending.take().expect("exp_alerts follows an alertname");
            if rest.trim() == "[]" {
                quiet.insert(name);
            } else {
                assert!(rest.trim().is_empty(), "unexpected exp_alerts form: {t}");
                firing.insert(name);
            }
        }
    }
    (firing, quiet)
}

/// The files the monitoring validators and the runbook rely on are all
/// there, paired one test file per rules file (whether they pass is
/// `verify --strict`'s job, in tests/validators/validators.rs).
#[test]
fn every_preset_has_paired_rules_and_tests_its_scripts_and_a_dashboard() {
    for preset in presets() {
        let run = init_preset(&preset);
        let root = run.path();
        let rules = yml_files(&root.join(RULES));
        let tests = yml_files(&root.join(TESTS));
        assert!(rules.len() >= 3, "{preset}: rules {rules:?}");
        let paired: Vec<String> = rules
            .iter()
            .map(|f| f.replace(".yml", ".test.yml"))
            .collect();
        assert_eq!(paired, tests, "{preset}: one test file per rules file");
        for config in [
            "monitoring/prometheus/prometheus.yml",
            "monitoring/alertmanager/alertmanager.yml",
        ] {
            assert!(root.join(config).is_file(), "{preset}: no {config}");
        }
        let scripts: Vec<String> = run
            .files()
            .into_iter()
            .filter(|f| f.ends_with(".sh"))
            .collect();
        for expected in [
            "docker-entrypoint.sh",
            "scripts/init-secrets.sh",
            "scripts/verify-backup.sh",
            "scripts/backup-redis.sh",
        ] {
            assert!(
                scripts.iter().any(|s| s == expected),
                "{preset}: no {expected} in {scripts:?}"
            );
        }
        let text = std::fs::read_to_string(
            root.join("monitoring/grafana/provisioning/dashboards/service.json"),
        )
        .unwrap();
        let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
        let titles: Vec<String> = dash["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_lowercase())
            .collect();
        for want in ["traffic", "errors", "latency", "redis memory"] {
            assert!(
                titles.iter().any(|t| t.contains(want)),
                "{preset}: no {want} panel in {titles:?}"
            );
        }
    }
}

#[test]
fn every_alert_is_documented_and_has_a_firing_and_a_quiet_test() {
    for preset in presets() {
        let run = init_preset(&preset);
        let root = run.path();
        let runbook = run.read("docs/RUNBOOK.md");
        let headings: BTreeSet<&str> = runbook
            .lines()
            .filter_map(|l| l.strip_prefix("### "))
            .collect();
        let mut all = BTreeSet::new();
        for f in yml_files(&root.join(RULES)) {
            let stem = f.trim_end_matches(".yml");
            let rules = run.read(&format!("{RULES}/{f}"));
            let tests = run.read(&format!("{TESTS}/{stem}.test.yml"));
            assert!(
                tests.contains(&format!("- ../rules/{f}")),
                "{preset}: {stem}.test.yml does not load {f}"
            );
            let alerts = alerts_in(&rules);
            assert!(!alerts.is_empty(), "{preset}: {f} has no alerts");
            let (firing, quiet) = cases_in(&tests);
            for (name, body) in &alerts {
                assert!(
                    all.insert(name.clone()),
                    "{preset}: alert {name} defined twice"
                );
                for field in ["summary:", "description:", "runbook_url:"] {
                    assert!(
                        body.contains(field),
                        "{preset}: {name} has no {field}\n{body}"
                    );
                }
                // The Watchdog fires always, by design, to the heartbeat
                // receiver: no severity, no quiet case.
                let watchdog = name == "Watchdog";
                assert!(
                    body.contains("severity: critical")
                        || body.contains("severity: warning")
                        || (watchdog && body.contains("severity: none")),
                    "{preset}: {name} needs severity critical or warning\n{body}"
                );
                let anchor = format!("RUNBOOK.md#{}\"", name.to_lowercase());
                assert!(
                    body.contains(&anchor),
                    "{preset}: {name}'s runbook_url does not end in #{}",
                    name.to_lowercase()
                );
                assert!(
                    headings.contains(name.as_str()),
                    "{preset}: RUNBOOK.md has no section for {name}"
                );
                assert!(
                    firing.contains(name),
                    "{preset}: no test case where {name} fires"
                );
                assert!(
                    watchdog || quiet.contains(name),
                    "{preset}: no test case where {name} stays quiet"
                );
            }
            for name in firing.iter().chain(&quiet) {
                assert!(
                    alerts.contains_key(name),
                    "{preset}: {stem}.test.yml tests unknown alert {name}"
                );
            }
        }
        // The alerts every production service needs, by the profile's features.
        let mut want = vec![
            "AppHighErrorRatio",
            "AppHighLatencyP95",
            "AppHighLatencyP99",
            "AppTargetDown",
            "AppTrafficStopped",
            "Watchdog",
            "AlertmanagerNotificationsFailing",
            "TargetDown",
            "EndpointDown",
            "TlsCertificateExpiring",
            "HostHighCpu",
            "HostHighMemory",
            "ContainerHighCpu",
            "ContainerHighMemory",
            "RedisDown",
            "RedisMemoryHigh",
            "RedisRejectedConnections",
            "RedisRdbSaveFailed",
            "RedisNoRecentSave",
            "BackupTooOld",
            "BackupMissing",
            "RestoreTestStale",
            "RestoreTestMissing",
        ];
        let profile = profile_of(&preset);
        if profile.postgres.enabled {
            want.extend([
                "PostgresDown",
                "PostgresTooManyConnections",
                "PostgresDeadlocks",
            ]);
        }
        if profile.voice.provider != VoiceProvider::None {
            want.extend(["VoiceWebhookErrors", "VoiceWebhookRejected"]);
        }
        if profile.worker.enabled {
            want.push("QueueBacklog");
        }
        for w in want {
            assert!(
                all.contains(w),
                "{preset}: missing alert {w} (have {all:?})"
            );
        }
    }
}

#[test]
fn thresholds_come_from_the_profile_and_the_tests_follow_them() {
    let run = init_preset_with(
        "twilio-voice",
        &[
            "alerts.error_ratio=0.6",
            "alerts.latency_p95_ms=250",
            "alerts.latency_p99_ms=4000",
            "alerts.cpu_ratio=0.95",
            "alerts.queue_backlog=50",
            "alerts.cert_expiry_days=3",
            "backup.interval_hours=6",
            "monitoring.runbook_base_url=https://wiki.example.com/ops/voice",
        ],
    );
    let app = run.read(&format!("{RULES}/app.yml"));
    assert!(app.contains("> 0.6\n"), "{app}");
    assert!(app.contains("> 0.25\n") && app.contains("> 4\n"), "{app}");
    assert!(app.contains("< 259200"), "{app}");
    assert!(app.contains("runbook_url: \"https://wiki.example.com/ops/voice#apphigherrorratio\""));
    assert!(run.read(&format!("{RULES}/host.yml")).contains("> 0.95"));
    assert!(run.read(&format!("{RULES}/redis.yml")).contains("> 50\n"));
    assert!(run.read(&format!("{RULES}/backup.yml")).contains("> 25200"));
    let tests = yml_files(&run.path().join(TESTS));
    assert!(tests.len() >= 3, "{tests:?}");
    for f in &tests {
        let (ok, out) = promtool_test(run.path(), f);
        assert!(ok, "{f} with the changed thresholds:\n{out}");
    }
}

#[test]
fn the_unit_tests_catch_a_broken_rule() {
    let run = init_preset("fastapi-three-tier");
    let path = run.path().join(RULES).join("app.yml");
    let rules = std::fs::read_to_string(&path).unwrap();
    // An error-ratio alert that can never fire must fail its firing case.
    let broken = rules.replacen("> 0.05\n", "> 2\n", 1);
    assert_ne!(broken, rules, "threshold line not found");
    std::fs::write(&path, broken).unwrap();
    let (ok, out) = promtool_test(run.path(), "app.test.yml");
    assert!(!ok, "promtool passed a rule that cannot fire:\n{out}");
    assert!(out.contains("AppHighErrorRatio"), "{out}");
    // And one that always fires must fail its quiet case.
    let always = rules.replacen("> 0.05\n", "> -1\n", 1);
    std::fs::write(&path, always).unwrap();
    let (ok, out) = promtool_test(run.path(), "app.test.yml");
    assert!(!ok, "promtool passed a rule that always fires:\n{out}");
    // A threshold moved a little either way fails too: the tests pin it
    // with ratios a point under and over [alerts] error_ratio.
    for moved in ["> 0.07\n", "> 0.03\n"] {
        std::fs::write(&path, rules.replacen("> 0.05\n", moved, 1)).unwrap();
        let (ok, out) = promtool_test(run.path(), "app.test.yml");
        assert!(
            !ok,
            "promtool passed the error-ratio threshold {moved}{out}"
        );
        assert!(out.contains("error ratio a point"), "{out}");
    }
}

const MONITORING_SERVICES: &[&str] = &[
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "blackbox-exporter",
    "nginx-exporter",
];

/// `docker-compose config` of compose.prod.yaml as JSON, with empty
/// placeholders for the secret files compose resolves.
fn compose_json(run: &Run) -> serde_json::Value {
    let root = run.path();
    let text = run.read("compose.prod.yaml");
    for line in text.lines() {
        if let Some(rel) = line.trim().strip_prefix("file: ./") {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if !p.exists() {
                std::fs::write(&p, "").unwrap();
            }
        }
    }
    // With the opt-in cAdvisor overlay laid over it (when monitoring is on),
    // so that is checked too. (compose.prod.yaml alone is verify's.)
    let mut args = vec!["-f", "compose.prod.yaml"];
    if root.join("monitoring/cadvisor.overlay.yaml").exists() {
        args.extend(["-f", "monitoring/cadvisor.overlay.yaml"]);
    }
    args.extend(["config", "--format", "json"]);
    let out = must_pass(tool_in(root, "docker-compose").args(&args));
    serde_json::from_str(&out).expect("compose config prints JSON")
}

#[test]
fn monitoring_services_are_hardened_with_monitoring_on_and_off() {
    for preset in presets() {
        let run = init_preset(&preset);
        let cfg = compose_json(&run);
        let services = cfg["services"].as_object().unwrap();
        let mut ours: Vec<&str> = MONITORING_SERVICES.to_vec();
        ours.push("cadvisor");
        if services.contains_key("postgres") {
            ours.push("postgres-exporter");
        }
        if services.contains_key("redis") {
            ours.push("redis-exporter");
        }
        for name in &ours {
            let s = services
                .get(*name)
                .unwrap_or_else(|| panic!("{preset}: no {name} service"));
            assert_eq!(s["read_only"], true, "{preset} {name}: read_only");
            assert_eq!(
                s["cap_drop"],
                serde_json::json!(["ALL"]),
                "{preset} {name}: cap_drop"
            );
            assert!(
                s["security_opt"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o == "no-new-privileges:true"),
                "{preset} {name}: no-new-privileges"
            );
            // nginx-exporter's scratch image has nothing to probe with: its
            // check is disabled in the file, and the NginxDown alert watches
            // it instead (services/exporter_health.rs).
            if *name == "nginx-exporter" {
                assert_eq!(s["healthcheck"]["disable"], true, "{preset} {name}");
            } else {
                assert!(
                    s["healthcheck"]["test"].is_array(),
                    "{preset} {name}: healthcheck"
                );
            }
            assert!(s["restart"].is_string(), "{preset} {name}: restart");
            assert!(
                s["deploy"]["resources"]["limits"]["memory"].is_string()
                    || s["deploy"]["resources"]["limits"]["memory"].is_number(),
                "{preset} {name}: memory limit"
            );
            assert!(
                s.get("privileged").is_none_or(|p| p == false),
                "{preset} {name}: privileged"
            );
            assert!(
                s.get("network_mode").is_none(),
                "{preset} {name}: network_mode"
            );
            for p in s["ports"].as_array().into_iter().flatten() {
                assert_eq!(
                    p["host_ip"], "127.0.0.1",
                    "{preset} {name}: port {p} must bind to loopback"
                );
            }
        }
        assert!(
            !run.read("compose.prod.yaml").contains("docker.sock"),
            "{preset}: the production file never mounts the Docker socket"
        );
        for (name, s) in services {
            if name == "cadvisor" {
                continue;
            }
            for v in s["volumes"].as_array().into_iter().flatten() {
                assert_ne!(
                    v["source"], "/var/run/docker.sock",
                    "{preset}: {name} mounts the Docker socket"
                );
            }
        }

        let off = init_preset_with(&preset, &["monitoring.enabled=false"]);
        let cfg = compose_json(&off);
        let services = cfg["services"].as_object().unwrap();
        for name in MONITORING_SERVICES
            .iter()
            .chain(&["postgres-exporter", "redis-exporter"])
        {
            assert!(
                !services.contains_key(*name),
                "{preset}: {name} present with monitoring off"
            );
        }
        assert!(
            !off.path().join("monitoring").exists(),
            "{preset}: monitoring/ written with monitoring off"
        );
        let runbook = off.read("docs/RUNBOOK.md");
        assert!(runbook.contains("monitoring.enabled = false"));
    }
}

#[test]
fn init_secrets_creates_the_monitoring_secrets() {
    let run = init_preset("twilio-voice");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(run.path().join("scripts/init-secrets.sh"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pw = std::fs::read_to_string(dir.path().join("grafana_admin_password")).unwrap();
    assert!(pw.len() >= 40, "grafana password too short");
    for f in [
        "alertmanager_slack_webhook_url",
        "alertmanager_pagerduty_routing_key",
        "alertmanager_heartbeat_url",
    ] {
        assert!(dir.path().join(f).exists());
        assert!(
            stdout.contains(f),
            "{f} is not listed for the operator to fill in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("Alertmanager refuses to start until"),
        "{stdout}"
    );
    let redis_pw = std::fs::read_to_string(dir.path().join("redis_exporter_password")).unwrap();
    let json = std::fs::read_to_string(dir.path().join("redis_exporter_passwords.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["redis://redis:6379"], redis_pw.trim_end());
}

const RECEIVER_FILES: [&str; 3] = [
    "alertmanager_slack_webhook_url",
    "alertmanager_pagerduty_routing_key",
    "alertmanager_heartbeat_url",
];

fn post_alert(port: u16, name: &str, severity: &str) {
    let body = format!(
        r#"[{{"labels":{{"alertname":"{name}","severity":"{severity}"}},"annotations":{{"summary":"{name} test"}}}}]"#
    );
    let (code, text) =
        http(port, "POST", "/api/v2/alerts", Some(&body)).expect("alertmanager answers");
    assert_eq!(code, 200, "posting {name}: {text}");
}

/// The real Alertmanager, started the way compose starts it (entrypoint.sh)
/// with the secret files the real init-secrets.sh makes: it refuses to start
/// while a receiver has no credential, naming the file, instead of dropping
/// alerts with a log line; filled in, it delivers a critical alert to Slack
/// and PagerDuty and the Watchdog to the heartbeat, and a failing receiver
/// shows in the metric AlertmanagerNotificationsFailing reads.
#[test]
fn alertmanager_never_drops_an_alert_silently() {
    let run = init_preset("twilio-voice");
    let root = run.path();
    let secrets = init_secrets_in_temp(root);
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start();

    // As init-secrets.sh leaves them: empty.
    match start_alertmanager(root, secrets.path(), work.path(), &sink.url("/pagerduty")) {
        Started::Exited { code, stderr } => {
            assert_eq!(code, 78, "{stderr}");
            for f in RECEIVER_FILES {
                assert!(
                    stderr.contains(&format!("{f} is empty")),
                    "{f} not named:\n{stderr}"
                );
            }
            assert!(stderr.contains("refusing to start"), "{stderr}");
        }
        Started::Running { .. } => {
            panic!("Alertmanager started with empty receiver files: every alert would be dropped")
        }
    }

    // Filled in wrongly: a URL without its scheme, a truncated key.
    let write = |f: &str, v: &str| std::fs::write(secrets.path().join(f), v).unwrap();
    write(RECEIVER_FILES[0], "hooks.slack.com/services/T000/B000/XXXX");
    write(RECEIVER_FILES[1], "abc");
    write(RECEIVER_FILES[2], &sink.url("/heartbeat"));
    match start_alertmanager(root, secrets.path(), work.path(), &sink.url("/pagerduty")) {
        Started::Exited { code, stderr } => {
            assert_eq!(code, 78, "{stderr}");
            assert!(
                stderr.contains("alertmanager_slack_webhook_url does not hold an http(s) URL"),
                "{stderr}"
            );
            assert!(
                stderr.contains("alertmanager_pagerduty_routing_key is too short"),
                "{stderr}"
            );
            assert!(!stderr.contains("alertmanager_heartbeat_url"), "{stderr}");
        }
        Started::Running { .. } => panic!("Alertmanager started with malformed receiver files"),
    }

    // Filled in: every route delivers.
    write(RECEIVER_FILES[0], &sink.url("/slack"));
    write(RECEIVER_FILES[1], "0123456789abcdef0123456789abcdef");
    let (_server, port) =
        start_alertmanager(root, secrets.path(), work.path(), &sink.url("/pagerduty"))
            .expect_running();
    post_alert(port, "Watchdog", "none");
    post_alert(port, "DiskOnFire", "critical");
    for (path, want) in [
        ("/heartbeat", "Watchdog"),
        ("/slack", "DiskOnFire"),
        ("/pagerduty", "DiskOnFire"),
    ] {
        assert!(
            sink.wait_for(&[path, want], 20).is_some(),
            "{want} never reached {path}; requests: {:?}",
            sink.requests()
        );
    }
    assert!(
        sink.wait_for(&["/slack", "Watchdog"], 1).is_none()
            && sink.wait_for(&["/pagerduty", "Watchdog"], 1).is_none(),
        "the Watchdog must go to the heartbeat only: {:?}",
        sink.requests()
    );

    // Slack's URL now points at nothing: the failure is counted where the
    // AlertmanagerNotificationsFailing rule reads it. (The file is read at
    // every send, so no restart.)
    write(
        RECEIVER_FILES[0],
        &format!("http://127.0.0.1:{}/closed", free_port()),
    );
    post_alert(port, "QueueSlow", "warning");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, metrics) = http(port, "GET", "/metrics", None).expect("metrics");
        let failed: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("alertmanager_notifications_failed_total{")
                    && l.contains("integration=\"slack\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if failed >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed Slack notification counted:\n{metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
