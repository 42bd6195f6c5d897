//! docs/ARCHITECTURE.md's diagrams render: every ```mermaid block of every
//! preset, on ECS and on Kubernetes (the compose diagram, the same on
//! both, once), goes through mermaid-cli (`mmdc`) with
//! Debian's Chromium, in one process (one browser start) over one Markdown
//! file. A parse error fails the run; each SVG must hold the labels the
//! profile implies and none it rules out.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::installed::test_package;
use common::{init_preset_with, presets, require_tool, DOMAIN};
use shipready::profile::{Profile, VoiceProvider};

const TARGETS: [&str; 2] = ["ecs", "kubernetes"];

fn profile_of(preset: &str, target: &str) -> Profile {
    common::profile_with(preset, &[&format!("deploy.target={target}")])
}

/// The bodies of the ```mermaid blocks of a Markdown file.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```mermaid\n")
        .skip(1)
        .map(|rest| {
            rest.split_once("\n```")
                .expect("a closed mermaid block")
                .0
                .to_string()
        })
        .collect()
}

/// The text a reader sees in an SVG: tags dropped, entities decoded.
fn svg_text(svg: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in svg.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// (label, whether the profile implies it) for the compose and the AWS diagram.
fn expected_labels(p: &Profile, target: &str) -> [Vec<(String, bool)>; 2] {
    let twilio = p.voice.provider == VoiceProvider::Twilio;
    let ringcentral = p.voice.provider == VoiceProvider::Ringcentral;
    let k8s = target == "kubernetes";
    let compose = vec![
        (format!("nginx: TLS for {DOMAIN}"), true),
        (
            format!("app: {} on :{}", p.service.name, p.service.port),
            true,
        ),
        (
            format!("Postgres: {}", p.postgres.database),
            p.postgres.enabled,
        ),
        (
            "postgres-exporter".into(),
            p.postgres.enabled && p.monitoring.enabled,
        ),
        ("Redis: ".into(), p.redis.enabled),
        ("worker: ".into(), p.worker.enabled),
        ("PagerDuty".into(), p.monitoring.enabled),
        ("Dead-man heartbeat".into(), p.monitoring.enabled),
        ("Twilio webhooks".into(), twilio),
        ("RingCentral webhooks".into(), ringcentral),
    ];
    let aws = vec![
        ("Application Load Balancer".into(), true),
        ("ECS service: app".into(), !k8s),
        ("ECS service: worker".into(), !k8s && p.worker.enabled),
        ("EKS cluster".into(), k8s),
        ("Kubernetes Deployment: app".into(), k8s),
        (
            "Kubernetes Deployment: worker".into(),
            k8s && p.worker.enabled,
        ),
        (
            format!("RDS Postgres: {}", p.postgres.database),
            p.postgres.enabled,
        ),
        ("ElastiCache Redis".into(), p.redis.enabled),
        ("Twilio webhooks".into(), twilio),
        ("RingCentral webhooks".into(), ringcentral),
    ];
    [compose, aws]
}

fn mmdc() -> Command {
    let bin = test_package("mermaid-cli/node_modules/.bin/mmdc");
    let mut cmd = Command::new(require_tool("node"));
    cmd.arg(bin)
        .arg("--puppeteerConfigFile")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/mermaid-cli/puppeteer-config.json"),
        )
        // Puppeteer must use Debian's Chromium and never fetch one.
        .env("PUPPETEER_SKIP_DOWNLOAD", "1");
    cmd
}

#[test]
fn every_diagram_renders_with_mermaid_and_shows_what_the_profile_has() {
    require_tool("chromium");
    let mut all = String::new();
    let mut cases = Vec::new();
    let mut compose = std::collections::BTreeMap::new();
    for preset in presets() {
        for target in TARGETS {
            let run = init_preset_with(&preset, &[&format!("deploy.target={target}")]);
            let doc = run.read("docs/ARCHITECTURE.md");
            let blocks = mermaid_blocks(&doc);
            assert_eq!(
                blocks.len(),
                2,
                "{preset} on {target}: compose and AWS diagrams"
            );
            // The compose host is the same on every target: drawn once.
            match compose.get(&preset) {
                Some(first) => assert_eq!(first, &blocks[0], "{preset}: compose on {target}"),
                None => {
                    compose.insert(preset.clone(), blocks[0].clone());
                }
            }
            for (i, block) in blocks.iter().enumerate() {
                if i == 0 && target != TARGETS[0] {
                    continue;
                }
                all.push_str(&format!(
                    "## {preset} on {target}, diagram {}\n\n```mermaid\n{block}\n```\n\n",
                    i + 1
                ));
                cases.push((preset.clone(), target, i));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("all.md");
    std::fs::write(&input, &all).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let started = Instant::now();
    let out = mmdc()
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(out_dir.join("all.md"))
        .current_dir(dir.path())
        .output()
        .expect("node runs mmdc");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "mmdc failed (a diagram does not parse?):\n{log}"
    );
    assert!(
        log.contains(&format!("Found {} mermaid charts", cases.len())),
        "{log}"
    );
    for (n, (preset, target, i)) in cases.iter().enumerate() {
        let svg_path = out_dir.join(format!("all-{}.svg", n + 1));
        let svg = std::fs::read_to_string(&svg_path)
            .unwrap_or_else(|e| panic!("{preset} on {target}: {}: {e}\n{log}", svg_path.display()));
        assert!(svg.contains("<svg"), "{preset} on {target}: not an SVG");
        let text = svg_text(&svg);
        assert!(
            !text.contains("Syntax error"),
            "{preset} on {target}, diagram {}: Mermaid drew a syntax error",
            i + 1
        );
        let profile = profile_of(preset, target);
        for (label, want) in &expected_labels(&profile, target)[*i] {
            assert_eq!(
                text.contains(label.as_str()),
                *want,
                "{preset} on {target}, diagram {}: label {label:?} {}",
                i + 1,
                if *want {
                    "missing"
                } else {
                    "drawn but the profile has none"
                }
            );
        }
    }
    eprintln!(
        "mmdc rendered {} diagrams in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
}
