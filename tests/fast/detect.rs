//! Stack detection on fixture repositories, one per reference system
//! (tests/fixtures/detect/<preset>/): what is detected must match what the
//! preset for that system says, carry its evidence, and point at that preset.

use crate::common;

use std::path::PathBuf;

use shipready::detect::{self, Detection};
use shipready::preset::Preset;
use shipready::profile::{Layer, Profile, VoiceProvider};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/detect")
        .join(name)
}

fn preset_profile(name: &str) -> Profile {
    let p = Preset::find(name).unwrap();
    let domain = Layer::from_assignments(&[format!("edge.domain={}", common::DOMAIN)]).unwrap();
    Profile::from_layers(&[p.layer(), domain]).unwrap()
}

/// The profile the detected answers give on their own (plus a domain).
fn detected_profile(d: &Detection) -> Profile {
    let layer = d.layer().with("edge.domain", common::DOMAIN);
    Profile::from_layers(std::slice::from_ref(&layer))
        .unwrap_or_else(|e| panic!("{:?}: {e}", layer.table))
}

#[test]
fn every_reference_system_is_detected_as_its_preset() {
    let presets = common::presets();
    assert!(presets.len() >= 5);
    for name in presets {
        let dir = fixture(&name);
        assert!(
            dir.is_dir(),
            "no detection fixture for preset {name} at {}",
            dir.display()
        );
        let d = detect::detect(&dir);
        let want = preset_profile(&name);
        let got = detected_profile(&d);
        let ctx = format!("{name}: detected {d:#?}");

        assert_eq!(got.service.name, want.service.name, "{ctx}");
        assert_eq!(got.service.runtime, want.service.runtime, "{ctx}");
        assert_eq!(
            got.service.runtime_version, want.service.runtime_version,
            "{ctx}"
        );
        assert_eq!(got.service.port, want.service.port, "{ctx}");
        assert_eq!(
            got.service.start_command, want.service.start_command,
            "{ctx}"
        );
        assert_eq!(got.postgres.enabled, want.postgres.enabled, "{ctx}");
        if d.migrate_command.is_some() {
            assert_eq!(
                got.postgres.migrate_command, want.postgres.migrate_command,
                "{ctx}"
            );
        }
        assert_eq!(got.redis.enabled, want.redis.enabled, "{ctx}");
        assert_eq!(got.redis.role, want.redis.role, "{ctx}");
        assert_eq!(got.worker.enabled, want.worker.enabled, "{ctx}");
        if want.worker.enabled {
            assert_eq!(got.worker.kind, want.worker.kind, "{ctx}");
            assert_eq!(got.worker.command, want.worker.command, "{ctx}");
        }
        assert_eq!(got.voice.provider, want.voice.provider, "{ctx}");
        // The library is detected, its path only guessed: presence must agree.
        assert_eq!(
            got.voice.websocket_path.is_empty(),
            want.voice.websocket_path.is_empty(),
            "{ctx}"
        );
        let (suggested, why) = d.suggested_preset().expect("a runtime was detected");
        assert_eq!(suggested, name, "{ctx}\nsuggested because: {why}");
    }
}

#[test]
fn every_detected_value_says_where_it_came_from() {
    for name in common::presets() {
        let d = detect::detect(&fixture(&name));
        let evidence = d.evidence();
        assert!(evidence.len() >= 5, "{name}: {evidence:?}");
        for e in evidence {
            let (value, origin) = e
                .split_once(" — ")
                .unwrap_or_else(|| panic!("{name}: evidence {e:?} lacks 'value — origin'"));
            assert!(!value.is_empty() && !origin.is_empty(), "{name}: {e:?}");
            let names_a_source = [
                "package.json",
                "pyproject.toml",
                "requirements",
                ".nvmrc",
                "Procfile",
                "Dockerfile",
                ".env.example",
                "schema.prisma",
                "directory",
                "no SQL database",
            ]
            .iter()
            .any(|s| origin.contains(s));
            assert!(names_a_source, "{name}: evidence {e:?} names no file");
        }
    }
}

#[test]
fn specific_evidence_strings() {
    let d = detect::detect(&fixture("prisma-voice"));
    assert_eq!(d.runtime_version.unwrap().evidence, "node 20 — .nvmrc");
    assert_eq!(d.port.unwrap().evidence, "3000 — EXPOSE in Dockerfile:5");
    assert_eq!(d.name.unwrap().value, "voice-platform");
    assert!(d
        .postgres
        .unwrap()
        .evidence
        .contains("provider \"postgresql\" in prisma/schema.prisma"));

    let d = detect::detect(&fixture("node-dashboard"));
    assert_eq!(
        d.runtime_version.unwrap().evidence,
        "node 22 — engines.node in package.json:4"
    );
    assert_eq!(
        d.framework.unwrap().evidence,
        "next — next in dependencies of package.json:12"
    );

    let d = detect::detect(&fixture("fastapi-three-tier"));
    assert_eq!(
        d.runtime_version.unwrap().evidence,
        "python 3.12 — requires-python in pyproject.toml:4"
    );
    assert!(d
        .redis
        .unwrap()
        .evidence
        .contains("celery[redis] in pyproject.toml"));
    assert_eq!(d.voice, None);

    let d = detect::detect(&fixture("ringcentral-hold-hunter"));
    assert_eq!(d.voice.unwrap().value, VoiceProvider::Ringcentral);
    assert!(d.redis.unwrap().evidence.contains("no SQL database"));
}

#[test]
fn requirements_txt_and_python_version_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("requirements.txt"),
        "# api\nfastapi==0.115.0\npsycopg[binary]==3.2.1\nredis==5.0.8\ntwilio==9.3.0\n-r requirements-dev.txt\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".python-version"), "3.11.9\n").unwrap();
    let d = detect::detect(dir.path());
    assert_eq!(
        d.runtime_version.as_ref().unwrap().evidence,
        "python 3.11 — .python-version"
    );
    assert_eq!(
        d.postgres.as_ref().unwrap().evidence,
        "postgres — psycopg in requirements.txt:3"
    );
    assert_eq!(
        d.redis.as_ref().unwrap().evidence,
        "redis as a cache — redis in requirements.txt:4"
    );
    assert_eq!(d.voice.as_ref().unwrap().value, VoiceProvider::Twilio);
    assert!(d.worker.is_none());
    // And the answers make a valid profile.
    detected_profile(&d);
}

#[test]
fn an_empty_directory_detects_nothing_but_its_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("My Service");
    std::fs::create_dir(&dir).unwrap();
    let d = detect::detect(&dir);
    assert_eq!(d.name.as_ref().unwrap().value, "my-service");
    assert_eq!(d.runtime, None);
    assert_eq!(d.suggested_preset(), None);
    assert_eq!(
        d.layer().table,
        Layer::default().with("service.name", "my-service").table
    );
}

#[test]
fn broken_manifests_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.json"), "{ not json").unwrap();
    std::fs::write(dir.path().join("pyproject.toml"), "[project\nname=").unwrap();
    let d = detect::detect(dir.path());
    assert_eq!(d.runtime, None);
}

// ---------------------------------------------------------------------------
// The fixture corpus (tests/fixtures/repos/<name>/, expectations beside it
// in <name>.expected.toml): repository layouts modelled on real public
// projects — monorepos, workspaces, Traefik or Caddy in front, Terraform
// only, TwiML without the SDK, Redis as pub/sub.

use shipready::audit;
use shipready::detect::command::Proposal;

fn repos() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repos")
}

fn corpus() -> Vec<(String, PathBuf, toml::Table)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repos()).unwrap() {
        let path = e.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = repos().join(format!("{name}.expected.toml"));
        let text = std::fs::read_to_string(&expected)
            .unwrap_or_else(|e| panic!("{name}: no {}: {e}", expected.display()));
        out.push((name, path, text.parse().unwrap()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn ids(t: &toml::Table, key: &str) -> Vec<String> {
    t.get(key)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn the_corpus_is_detected_and_audited_as_its_expectations_say() {
    let corpus = corpus();
    assert!(
        corpus.len() >= 12,
        "only {} fixture repositories",
        corpus.len()
    );
    let known = audit::check_ids();
    let mut right = 0;
    let mut detect_misses = Vec::new();
    let (mut true_pass, mut false_pass, mut present) = (0usize, 0usize, 0usize);
    let mut audit_misses = Vec::new();
    for (name, dir, expected) in &corpus {
        // Detection: the preset and every expected answer.
        let want = expected["detect"].as_table().unwrap();
        let p = Proposal::for_dir(dir);
        let preset = p.preset.as_ref().map_or("none", |c| c.name);
        let mut wrong: Vec<String> = Vec::new();
        if preset != want["preset"].as_str().unwrap() {
            wrong.push(format!("preset {preset}, expected {}", want["preset"]));
        }
        for (key, value) in want["answers"].as_table().unwrap() {
            match p.answers.iter().find(|a| a.key == key) {
                Some(a) if a.value == *value => {}
                Some(a) => wrong.push(format!(
                    "{key} = {} ({}), expected {value}",
                    a.value, a.evidence
                )),
                None => wrong.push(format!("{key} not detected, expected {value}")),
            }
        }
        if wrong.is_empty() {
            right += 1;
        } else {
            detect_misses.push(format!("{name}: {}", wrong.join("; ")));
        }

        // Audit: what the repository really has, lacks, or cannot have.
        let want = expected["audit"].as_table().unwrap();
        let report = audit::audit(dir).unwrap();
        let status = |id: &str| {
            assert!(known.contains(&id), "{name}: unknown check {id}");
            report
                .categories
                .iter()
                .flat_map(|c| &c.checks)
                .find(|c| c.id == id)
                .map(|c| (c.status, c.detail.clone()))
                .unwrap()
        };
        for id in ids(want, "present") {
            present += 1;
            match status(&id) {
                (audit::Status::Pass, _) => true_pass += 1,
                (s, d) => audit_misses.push(format!("{name}: {id} is present but {s:?}: {d}")),
            }
        }
        for id in ids(want, "absent") {
            if let (audit::Status::Pass, d) = status(&id) {
                false_pass += 1;
                audit_misses.push(format!("{name}: {id} is absent but passed: {d}"));
            }
        }
        for id in ids(want, "not_applicable") {
            match status(&id) {
                (audit::Status::NotApplicable, _) => {}
                (s, d) => audit_misses.push(format!("{name}: {id} does not apply but {s:?}: {d}")),
            }
        }
    }
    let n = corpus.len();
    let detection = right as f64 / n as f64;
    let precision = true_pass as f64 / (true_pass + false_pass).max(1) as f64;
    let recall = true_pass as f64 / present.max(1) as f64;
    println!(
        "corpus of {n}: detection right on {right} ({:.0}%); audit pass precision {:.1}% ({true_pass}/{}), recall {:.1}% ({true_pass}/{present})",
        detection * 100.0,
        precision * 100.0,
        true_pass + false_pass,
        recall * 100.0
    );
    for m in detect_misses.iter().chain(&audit_misses) {
        println!("  {m}");
    }
    assert!(
        detection >= 0.90,
        "detection right on {right} of {n}:\n{}",
        detect_misses.join("\n")
    );
    assert!(
        precision >= 0.97,
        "pass precision {precision:.3}:\n{}",
        audit_misses.join("\n")
    );
    assert!(
        recall >= 0.95,
        "recall of present items {recall:.3}:\n{}",
        audit_misses.join("\n")
    );
    let na_misses: Vec<&String> = audit_misses
        .iter()
        .filter(|m| m.contains("does not apply"))
        .collect();
    assert!(na_misses.is_empty(), "{na_misses:#?}");
}

// ---------------------------------------------------------------------------
// `shipready detect` and `init --yes`.

use common::Run;

fn copy_fixture(name: &str) -> Run {
    let run = Run::new();
    common::copy_dir(&repos().join(name), run.path());
    run
}

#[test]
fn detect_prints_the_proposal_as_json() {
    for name in ["npm-workspace", "twilio-twiml"] {
        let out = Run::new()
            .args([
                "detect",
                repos().join(name).to_str().unwrap(),
                "--format",
                "json",
            ])
            .expect(0);
        // Named as when this file was its own test binary, kept beside it.
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(
                format!("detect__detect_json_{}", name.replace('-', "_")),
                out.stdout
            );
        });
    }
    let out = Run::new()
        .args(["detect", "/nonexistent/shipready-detect"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn init_yes_writes_what_detect_printed() {
    for name in ["twilio-twiml", "npm-workspace", "fastapi-monorepo"] {
        let run = copy_fixture(name);
        let dir = run.path().to_str().unwrap().to_string();
        let detected: serde_json::Value = serde_json::from_str(
            &Run::new()
                .args(["detect", &dir, "--format", "json"])
                .expect(0)
                .stdout,
        )
        .unwrap();
        Run::new()
            .args([
                "init",
                "--yes",
                // The fixture has its own .env.example.
                "--force",
                "--dir",
                &dir,
                "--set",
                &format!("edge.domain={}", common::DOMAIN),
            ])
            .expect(0);
        let lock = shipready::core::lock::Lock::read(run.path())
            .unwrap()
            .expect("a lock");
        assert_eq!(
            lock.preset.as_deref(),
            detected["preset"]["name"].as_str(),
            "{name}"
        );
        let profile = serde_json::to_value(&lock.profile).unwrap();
        let answers = detected["answers"].as_array().unwrap();
        assert!(answers.len() >= 8, "{name}: {answers:?}");
        for a in answers {
            let key = a["key"].as_str().unwrap();
            let written = key.split('.').fold(&profile, |v, k| &v[k]);
            assert_eq!(*written, a["value"], "{name}: {key} ({})", a["evidence"]);
        }
    }
}

#[test]
fn a_package_named_ringcentral_is_reported_as_itself() {
    let d = detect::detect(&repos().join("ringcentral-sample"));
    let voice = d.voice.unwrap();
    assert_eq!(voice.value, VoiceProvider::Ringcentral);
    assert_eq!(
        voice.evidence,
        "ringcentral — ringcentral in dependencies of package.json:5"
    );
}

#[test]
fn express_with_twilio_and_no_prisma_is_not_prisma_voice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"calls","dependencies":{"express":"4.21.0","twilio":"5.3.0","pg":"8.13.0"}}"#,
    )
    .unwrap();
    let d = detect::detect(dir.path());
    assert_eq!(d.suggested_preset().unwrap().0, "twilio-voice");
    assert_eq!(d.migrate_command, None);
}

/// What a detected service lacks is a "no" that beats the preset: a
/// TwiML app without a database on the twilio-voice preset plans no RDS,
/// Redis or worker.
#[test]
fn not_found_answers_default_to_no_over_the_preset() {
    let d = detect::detect(&repos().join("twilio-twiml"));
    assert_eq!(
        d.layer().get("postgres.enabled"),
        Some(&toml::Value::Boolean(false))
    );
    let domain = Layer::from_assignments(&[format!("edge.domain={}", common::DOMAIN)]).unwrap();
    let preset = Preset::find("twilio-voice").unwrap();
    let p = Profile::from_layers(&[preset.layer(), d.layer(), domain]).unwrap();
    assert!(!p.postgres.enabled && !p.redis.enabled && !p.worker.enabled);
    assert_eq!(p.voice.provider, VoiceProvider::Twilio);
    assert_eq!(p.service.name, "voice-agent");
}
