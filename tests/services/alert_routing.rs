//! Every alert the generated rules can raise reaches the receivers its
//! severity routes to, through the real Alertmanager: started by the
//! generated entrypoint.sh with the generated alertmanager.yml and the
//! secret files the generated init-secrets.sh makes, filled in to point at
//! a local HTTP sink (Slack and the heartbeat by their URL files, PagerDuty
//! by its API URL). Each alert of rules/*.yml is posted with its own labels;
//! each must arrive at every integration of its receiver and at no other.
//! The receivers come from the config's routes (checked against `amtool
//! config routes test`) and must say what the config's header promises:
//! critical pages (PagerDuty) and goes to Slack, warning goes to Slack, the
//! Watchdog goes to the heartbeat only.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::alerting::{http, init_secrets_in_temp, local_config, start_alertmanager, Sink};
use common::{init_preset, require_tool};
use serde_norway::Value;

/// The secret files of the receivers and the sink path each is pointed at.
const URL_FILES: [(&str, &str); 2] = [
    ("alertmanager_slack_webhook_url", "/slack"),
    ("alertmanager_heartbeat_url", "/heartbeat"),
];
const PAGERDUTY_KEY_FILE: &str = "alertmanager_pagerduty_routing_key";
const PAGERDUTY_PATH: &str = "/pagerduty";

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every alert in the rendered rules: name -> severity.
fn alerts(root: &Path) -> BTreeMap<String, String> {
    let dir = root.join("monitoring/prometheus/rules");
    let mut out = BTreeMap::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        files += 1;
        for group in yaml(&path)["groups"].as_sequence().expect("groups") {
            for rule in group["rules"].as_sequence().expect("rules") {
                let Some(name) = rule["alert"].as_str() else {
                    continue; // a recording rule
                };
                let severity = rule["labels"]["severity"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name} has no severity"));
                out.insert(name.to_string(), severity.to_string());
            }
        }
    }
    assert!(
        files >= 5 && out.len() >= 20,
        "{files} rule files, {} alerts",
        out.len()
    );
    out
}

/// `name = "value"` (the only matcher the routes use).
fn equality(matcher: &str) -> (&str, &str) {
    let (name, value) = matcher.split_once(" = ").unwrap_or_else(|| {
        panic!("route matcher {matcher:?}: only `name = \"value\"` is read here")
    });
    (name.trim(), value.trim().trim_matches('"'))
}

/// The receiver the config's routing tree gives these labels: the first
/// child route whose matchers all hold (none has `continue`), else the root's.
fn receiver_for(config: &Value, labels: &BTreeMap<&str, &str>) -> String {
    let route = &config["route"];
    for child in route["routes"].as_sequence().expect("child routes") {
        assert!(
            child.get("continue").is_none() && child.get("routes").is_none(),
            "a nested or continuing route: extend this test"
        );
        let all = child["matchers"]
            .as_sequence()
            .expect("matchers")
            .iter()
            .all(|m| {
                let (name, value) = equality(m.as_str().expect("matcher"));
                labels.get(name) == Some(&value)
            });
        if all {
            return child["receiver"].as_str().unwrap().to_string();
        }
    }
    route["receiver"].as_str().unwrap().to_string()
}

/// The sink paths a receiver's integrations deliver to.
fn destinations(config: &Value, receiver: &str) -> BTreeSet<String> {
    let r = config["receivers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str() == Some(receiver))
        .unwrap_or_else(|| panic!("no receiver {receiver}"));
    let mut out = BTreeSet::new();
    let mut integrations = 0;
    for (kind, configs) in r.as_mapping().unwrap() {
        let kind = kind.as_str().unwrap();
        if kind == "name" {
            continue;
        }
        for c in configs.as_sequence().unwrap() {
            integrations += 1;
            match kind {
                "pagerduty_configs" => {
                    let key = c["routing_key_file"].as_str().expect("routing_key_file");
                    assert!(key.ends_with(PAGERDUTY_KEY_FILE), "{key}");
                    out.insert(PAGERDUTY_PATH.to_string());
                }
                "slack_configs" => {
                    let file = c["api_url_file"].as_str().expect("api_url_file");
                    let (_, path) = URL_FILES
                        .iter()
                        .find(|(f, _)| file.ends_with(f))
                        .unwrap_or_else(|| panic!("unknown URL file {file}"));
                    out.insert(path.to_string());
                }
                other => panic!("receiver {receiver}: {other} is not pointed at the sink here"),
            }
        }
    }
    assert_eq!(
        out.len(),
        integrations,
        "{receiver}: two integrations share a destination"
    );
    out
}

/// The names an `alertname =~ "A|B"` source matcher of an inhibit rule
/// holds: alerts that mute others, posted last so they mute nothing here.
fn inhibiting(config: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in config["inhibit_rules"].as_sequence().unwrap_or(&Vec::new()) {
        for m in rule["source_matchers"].as_sequence().unwrap() {
            if let Some(names) = m.as_str().unwrap().strip_prefix("alertname =~ ") {
                for n in names.trim_matches('"').split('|') {
                    assert!(
                        n.chars().all(|c| c.is_ascii_alphanumeric()),
                        "inhibit source {n:?} is a pattern: extend this test"
                    );
                    out.insert(n.to_string());
                }
            }
        }
    }
    out
}

/// `amtool config routes test`: the receiver the real router picks.
fn amtool_receiver(config: &Path, labels: &BTreeMap<&str, &str>) -> String {
    let out = Command::new(require_tool("amtool"))
        .args(["config", "routes", "test", "--config.file"])
        .arg(config)
        .args(labels.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "amtool: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The alert name as a whole word in a request (so TargetDown is not found
/// in AppTargetDown).
fn mentions(request: &str, name: &str) -> bool {
    request.match_indices(name).any(|(i, _)| {
        let before = request[..i].chars().next_back();
        let after = request[i + name.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Wait up to 20 s for a request to `path` that names `alert`.
fn arrives(sink: &Sink, path: &str, alert: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let prefix = format!("{path} ");
        if sink
            .requests()
            .iter()
            .any(|r| r.starts_with(&prefix) && mentions(r, alert))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn post(port: u16, batch: &[(&String, &String)]) {
    let alerts: Vec<serde_json::Value> = batch
        .iter()
        .map(|(name, severity)| {
            serde_json::json!({
                "labels": {"alertname": name, "severity": severity},
                "annotations": {"summary": format!("routing test of {name}")},
            })
        })
        .collect();
    let body = serde_json::Value::Array(alerts).to_string();
    let (code, text) =
        http(port, "POST", "/api/v2/alerts", Some(&body)).expect("alertmanager answers");
    assert_eq!(code, 200, "posting alerts: {text}");
}

#[test]
fn every_alert_reaches_the_receivers_its_severity_routes_to() {
    let run = init_preset("twilio-voice");
    let root = run.path();
    let secrets = init_secrets_in_temp(root);
    let sink = Sink::start();
    for (file, path) in URL_FILES {
        let f = secrets.path().join(file);
        assert!(f.exists(), "init-secrets.sh made no {file}");
        std::fs::write(f, sink.url(path)).unwrap();
    }
    std::fs::write(
        secrets.path().join(PAGERDUTY_KEY_FILE),
        "0123456789abcdef0123456789abcdef",
    )
    .unwrap();

    // Where each severity must go: read from the config, checked against
    // amtool and against the header's promise.
    let work = tempfile::tempdir().unwrap();
    let config_path = local_config(root, secrets.path(), work.path(), &sink.url(PAGERDUTY_PATH));
    let config = yaml(&config_path);
    let alerts = alerts(root);
    let mut expected: BTreeMap<&String, BTreeSet<String>> = BTreeMap::new();
    let mut by_severity: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, severity) in &alerts {
        let labels = BTreeMap::from([
            ("alertname", name.as_str()),
            ("severity", severity.as_str()),
        ]);
        let receiver = receiver_for(&config, &labels);
        let dest = destinations(&config, &receiver);
        let kind = if name == "Watchdog" {
            "Watchdog".to_string()
        } else {
            severity.clone()
        };
        if let Some(seen) = by_severity.get(&kind) {
            assert_eq!(
                seen, &dest,
                "{name} goes elsewhere than other {kind} alerts"
            );
        } else {
            assert_eq!(
                amtool_receiver(&config_path, &labels),
                receiver,
                "amtool routes {name} elsewhere"
            );
            by_severity.insert(kind, dest.clone());
        }
        expected.insert(name, dest);
    }
    let set = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
    let promised = BTreeMap::from([
        ("Watchdog".to_string(), set(&["/heartbeat"])),
        ("critical".to_string(), set(&["/pagerduty", "/slack"])),
        ("warning".to_string(), set(&["/slack"])),
    ]);
    assert_eq!(
        by_severity, promised,
        "the routing differs from alertmanager.yml's header (or a rule has another severity)"
    );

    let (_server, port) =
        start_alertmanager(root, secrets.path(), work.path(), &sink.url(PAGERDUTY_PATH))
            .expect_running();
    let muting = inhibiting(&config);
    let (last, first): (Vec<_>, Vec<_>) = alerts.iter().partition(|(n, _)| muting.contains(*n));
    assert!(!first.is_empty() && !last.is_empty());
    let started = std::time::Instant::now();
    for batch in [first, last] {
        post(port, &batch);
        for (name, _) in &batch {
            for path in &expected[name] {
                assert!(
                    arrives(&sink, path, name),
                    "{name} never reached {path}; requests: {:#?}",
                    sink.requests()
                );
            }
        }
    }
    // Two more group waits: anything misrouted has arrived by now.
    std::thread::sleep(Duration::from_secs(2));
    let requests = sink.requests();
    for (name, want) in &expected {
        let reached: BTreeSet<String> = requests
            .iter()
            .filter(|r| mentions(r, name))
            .map(|r| r.split(' ').next().unwrap().to_string())
            .collect();
        assert_eq!(&reached, want, "{name} reached other receivers");
    }
    eprintln!(
        "{} alerts delivered to {} requests in {:.1} s",
        alerts.len(),
        requests.len(),
        started.elapsed().as_secs_f64()
    );
}
