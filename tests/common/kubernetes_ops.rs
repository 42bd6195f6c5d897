//! Helpers of tests/services/kubernetes_ops.rs: building a Kustomize folder, running
//! a CronJob's command locally, and reading a cron schedule.

use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::require_tool;

/// Every object `kubectl kustomize` builds from `dir`.
pub fn kustomize_build(dir: &Path) -> Vec<Value> {
    let out = Command::new(require_tool("kubectl"))
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect()
}

/// Hours of the day and days of the month a `M H DOM * *` schedule runs at.
pub fn cron_field(field: &str, first: u32, last: u32) -> Vec<u32> {
    if field == "*" {
        return (first..=last).collect();
    }
    if let Some(step) = field.strip_prefix("*/") {
        let step: u32 = step.parse().unwrap();
        return (first..=last).step_by(step as usize).collect();
    }
    vec![field.parse().unwrap()]
}

/// The longest gap, in hours, between runs of `schedule` over a year
/// (minutes are fixed, so whole hours).
pub fn longest_gap_hours(schedule: &str) -> i64 {
    let f: Vec<&str> = schedule.split_whitespace().collect();
    assert_eq!(f.len(), 5, "{schedule}");
    assert!(
        f[0].parse::<u32>().is_ok() && f[3] == "*" && f[4] == "*",
        "{schedule}"
    );
    let hours = cron_field(f[1], 0, 23);
    let days = cron_field(f[2], 1, 31);
    const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut runs = Vec::new();
    let mut day_of_year = 0i64;
    for len in MONTH_DAYS {
        for d in 1..=len {
            if days.contains(&d) {
                runs.extend(hours.iter().map(|h| day_of_year * 24 + i64::from(*h)));
            }
            day_of_year += 1;
        }
    }
    runs.windows(2).map(|w| w[1] - w[0]).max().unwrap()
}

/// A CronJob's container command with the pod's mounts mapped to local
/// directories, its env with secretKeyRefs taken from `secrets`, and
/// `overrides` (where a local test server differs from the cluster).
pub fn cronjob_command(
    cj: &Value,
    mounts: &BTreeMap<&str, &Path>,
    secrets: &BTreeMap<&str, String>,
    overrides: &[(&str, String)],
) -> Command {
    let c = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let local = |s: &str| -> String {
        let mut s = s.to_string();
        for (pod, here) in mounts {
            s = s.replace(pod, &here.display().to_string());
        }
        s
    };
    // Every mount of the pod has a local directory.
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let path = m["mountPath"].as_str().unwrap();
        assert!(mounts.contains_key(path), "no local directory for {path}");
    }
    let mut argv: Vec<String> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(c["args"].as_sequence().into_iter().flatten())
        .map(|a| local(a.as_str().unwrap()))
        .collect();
    let mut cmd = Command::new(argv.remove(0));
    cmd.args(argv)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap());
    for e in c["env"].as_sequence().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match e["value"].as_str() {
            Some(v) => local(v),
            None => {
                let key = e["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
                secrets
                    .get(key)
                    .unwrap_or_else(|| panic!("no test value for {key}"))
                    .clone()
            }
        };
        cmd.env(name, value);
    }
    for (k, v) in overrides {
        cmd.env(k, v);
    }
    cmd
}

/// `text` with each pod path (a mount, or a folder of the image) replaced
/// by the local directory standing in for it.
pub fn localize(text: &str, mounts: &BTreeMap<&str, &Path>) -> String {
    // Through placeholders first: a local directory may itself lie under a
    // pod path (a temp dir under /tmp).
    let mut text = text.to_string();
    for (i, pod) in mounts.keys().enumerate() {
        text = text.replace(pod, &format!("\u{0}{i}\u{0}"));
    }
    for (i, here) in mounts.values().enumerate() {
        text = text.replace(&format!("\u{0}{i}\u{0}"), &here.display().to_string());
    }
    text
}

/// HTTP GET of `path` on 127.0.0.1:`port` with curl: status, content type
/// and body.
pub fn http_get(port: u16, path: &str) -> (u16, String, String) {
    let out = Command::new(require_tool("curl"))
        .args([
            "-s",
            "--max-time",
            "10",
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{content_type}",
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (status, content_type) = tail.split_once(' ').unwrap_or((tail, ""));
    (
        status.parse().unwrap_or(0),
        content_type.to_string(),
        body.to_string(),
    )
}
