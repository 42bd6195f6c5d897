//! compose-lint (a security linter for Compose files) on every preset's
//! production compose file, through the same validator `shipready verify`
//! runs and directly, and the node-exporter mounts behind its one critical
//! finding.

use crate::common;

use common::{init_preset, presets, require_tool, Run};
use serde_norway::Value;
use shipready::verify::{Outcome, Validator, VALIDATORS};
use std::process::Command;

fn compose_lint_validator() -> &'static Validator {
    require_tool("compose-lint");
    VALIDATORS
        .iter()
        .find(|v| v.name == "compose-lint")
        .expect("a compose-lint validator is registered")
}

/// Every finding compose-lint reports on `run`'s compose.prod.yaml, as
/// (rule, severity, service, message), and its exit code.
fn findings(run: &Run) -> (i32, Vec<(String, String, String, String)>) {
    let out = Command::new(require_tool("compose-lint"))
        .current_dir(run.path())
        .args(["check", "--fail-on", "high", "--format", "json"])
        .arg("compose.prod.yaml")
        .output()
        .expect("compose-lint runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "compose-lint printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let text = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
    let list = report["findings"]
        .as_array()
        .expect("a findings list")
        .iter()
        .map(|f| {
            (
                text(f, "rule_id"),
                text(f, "severity"),
                text(f, "service"),
                text(f, "message"),
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), list)
}

#[test]
fn compose_lint_finds_nothing_high_in_production_for_every_preset() {
    let validator = compose_lint_validator();
    for preset in presets() {
        let run = init_preset(&preset);
        assert_eq!(
            (validator.run)(run.path(), "compose.prod.yaml"),
            Outcome::Pass,
            "{preset}"
        );
        let (code, found) = findings(&run);
        let high: Vec<_> = found
            .iter()
            .filter(|(_, sev, _, _)| sev == "high" || sev == "critical")
            .collect();
        assert!(high.is_empty(), "{preset}: {high:#?}");
        assert_eq!(code, 0, "{preset}: {found:#?}");
        // The medium findings left were each reviewed: CL-0005 is the nginx
        // edge's 80/443, the one published service on purpose; CL-0019 is
        // tags without digests, which cannot be resolved offline. A new
        // finding needs the same review: fix it, or list it here and say why.
        for (rule, sev, service, message) in &found {
            let reviewed = (rule == "CL-0005"
                && service == "nginx"
                && (message.contains("'80:80'") || message.contains("'443:443'")))
                || rule == "CL-0019";
            assert!(
                reviewed,
                "{preset}: unreviewed compose-lint finding {rule} ({sev}) on {service}: {message}"
            );
        }
    }
}

/// Host paths `service` bind-mounts, from compose.prod.yaml.
fn host_mounts(compose: &Value, service: &str) -> Vec<String> {
    compose["services"][service]["volumes"]
        .as_sequence()
        .map(|v| {
            v.iter()
                .filter_map(|m| match m {
                    Value::String(s) => s.split(':').next().map(str::to_string),
                    Value::Mapping(_) => m["source"].as_str().map(str::to_string),
                    _ => None,
                })
                .filter(|src| src.starts_with('/'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn node_exporter_has_no_host_root_socket_proc_or_sys_mount() {
    let mut seen = 0;
    for preset in presets() {
        let run = init_preset(&preset);
        let compose: Value = serde_norway::from_str(&run.read("compose.prod.yaml")).unwrap();
        if compose["services"]["node-exporter"].is_null() {
            continue;
        }
        seen += 1;
        let mounts = host_mounts(&compose, "node-exporter");
        assert_eq!(
            mounts,
            vec!["/var/lib/node_exporter/textfile_collector".to_string()],
            "{preset}: node-exporter needs only the textfile directory (backup metrics)"
        );
        let command: Vec<&str> = compose["services"]["node-exporter"]["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            command
                .iter()
                .all(|a| !a.starts_with("--path.rootfs") && !a.starts_with("--path.procfs")),
            "{preset}: {command:?}"
        );
        assert!(
            command.contains(&"--collector.textfile.directory=/textfile"),
            "{preset}: {command:?}"
        );
        // No production service mounts the host root, the Docker socket or
        // the directories that hold it.
        let services = compose["services"].as_mapping().unwrap();
        for name in services.keys().filter_map(Value::as_str) {
            for src in host_mounts(&compose, name) {
                let path = match src.trim_end_matches('/') {
                    "" => "/",
                    p => p,
                };
                assert!(
                    ![
                        "/",
                        "/var/run",
                        "/run",
                        "/var/run/docker.sock",
                        "/proc",
                        "/sys"
                    ]
                    .contains(&path),
                    "{preset}: {name} mounts {src}"
                );
            }
        }
    }
    assert!(seen > 0, "no preset has node-exporter");
}

#[test]
fn compose_lint_validator_fails_on_a_socket_mount_and_skips_the_opt_in_overlay() {
    let validator = compose_lint_validator();
    let run = init_preset("twilio-voice");
    let path = run.path().join("compose.prod.yaml");
    let text = run.read("compose.prod.yaml");
    let broken = text.replace(
        "      - /var/lib/node_exporter/textfile_collector:/textfile:ro\n",
        "      - /var/lib/node_exporter/textfile_collector:/textfile:ro\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n",
    );
    assert_ne!(broken, text, "node-exporter's volumes not found");
    std::fs::write(&path, broken).unwrap();
    match (validator.run)(run.path(), "compose.prod.yaml") {
        Outcome::Fail(out) => assert!(out.contains("CL-0001") && out.contains("CRITICAL"), "{out}"),
        Outcome::Pass => panic!("compose-lint passed a Docker socket mount"),
    }
    // Only the production file is a target: compose.yaml is the dev stack,
    // and the cAdvisor overlay mounts the Docker socket on purpose.
    assert_eq!(
        (validator.targets)(&[
            "compose.yaml",
            "compose.prod.yaml",
            "monitoring/cadvisor.overlay.yaml",
        ]),
        vec!["compose.prod.yaml".to_string()]
    );
}
