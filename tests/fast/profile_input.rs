//! Every profile field against hostile input through every way an answer
//! arrives: a preset-like layer, `--set`, a `--values` file and a hand-edited
//! lock read back by `diff`/`update`, with each feature on and off. None may
//! be accepted. Then every kind of mistake a person makes, asserting the
//! message names the field, the value, what is accepted and the nearest
//! valid spelling. The full matrix runs in-process through the same
//! functions the commands call; one hostile value per field also goes
//! through the real binary. Most of its length is the message table: one
//! row per kind of mistake.

use crate::common;

use common::profile_values::{meaning_hostile, named, set, shaped, HOSTILE};
use common::{require_tool, Run, DOMAIN};
use shipready::core::lock::{Lock, LOCK_FILE};
use shipready::error::{Error, FieldError};
use shipready::preset::Preset;
use shipready::profile::{is_branch, Layer, Profile, FIELDS, MAX_DOMAIN_LEN};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use toml::Value;

/// The bases answers land on: every feature off, and every feature on.
fn bases() -> Vec<(&'static str, Layer)> {
    let bare = Layer::default()
        .with("name", "voice-agent")
        .with("domain", DOMAIN);
    let mut all_on = Preset::find("twilio-voice").unwrap().layer();
    all_on.set("domain", DOMAIN).unwrap();
    vec![("features off", bare), ("features on", all_on)]
}

/// Fails unless `result` is a profile error naming `key`.
fn assert_refused(result: Result<Profile, Error>, key: &str, how: &str) {
    let errs: Vec<FieldError> = match result {
        Err(Error::Profile(errs)) => errs,
        Ok(_) => panic!("{how}: accepted"),
        Err(other) => panic!("{how}: not a profile error: {other}"),
    };
    let key = named(key);
    assert!(
        errs.iter().any(|e| e.key.starts_with(&key)),
        "{how}: no error names {key}: {errs:?}"
    );
}

/// Every (field, value) pair the matrix tries, with a label.
fn cases() -> Vec<(String, &'static str, Value)> {
    let mut out = Vec::new();
    for field in FIELDS {
        for h in HOSTILE {
            out.push((
                format!("{} = {h:?}", field.key),
                field.key,
                shaped(field.kind, h),
            ));
        }
        let long = "a".repeat(5000);
        out.push((
            format!("{} = 5000 characters", field.key),
            field.key,
            shaped(field.kind, &long),
        ));
    }
    for (key, value) in meaning_hostile() {
        out.push((format!("{key} = {value}"), key, value));
    }
    out
}

/// The raw text `--set key=RAW` would take for this value.
fn set_raw(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn no_hostile_value_is_accepted_through_any_layer() {
    let cases = cases();
    let mut tried = 0;
    for (base_name, base) in bases() {
        for (label, key, value) in &cases {
            // A preset, detection or the questionnaire: a typed layer.
            let mut layer = Layer::default();
            set(&mut layer.table, key, value.clone());
            let how = format!("{base_name}, layer: {label}");
            assert_refused(Profile::from_layers(&[base.clone(), layer]), key, &how);

            // A --values file, parsed as the command parses it.
            let mut table = toml::Table::new();
            set(&mut table, key, value.clone());
            let text = toml::to_string(&table).unwrap();
            let values = Layer::from_toml(&text, "values.toml")
                .unwrap_or_else(|e| panic!("{label}: {e}\n{text}"));
            let how = format!("{base_name}, --values: {label}");
            assert_refused(Profile::from_layers(&[base.clone(), values]), key, &how);

            // --set key=value.
            let assignment = match key.strip_prefix("sidecars[].") {
                Some(_) => {
                    let mut t = toml::Table::new();
                    set(&mut t, key, value.clone());
                    format!("sidecars={}", t["sidecars"])
                }
                None => format!("{key}={}", set_raw(value)),
            };
            let how = format!("{base_name}, --set: {label}");
            let set = Layer::from_assignments(&[assignment]).unwrap();
            assert_refused(Profile::from_layers(&[base.clone(), set]), key, &how);
            tried += 3;
        }
    }
    assert!(tried > 3000, "the matrix ran: {tried}");
}

/// A lock written by `init`, its file bases dropped (the profile is what is
/// under test), as a table to edit.
fn lock_table(args: &[&str]) -> toml::Table {
    let run = Run::new().args(args);
    run.expect(0);
    let mut t: toml::Table = run.read(LOCK_FILE).parse().unwrap();
    t.insert("files".into(), Value::Table(toml::Table::new()));
    t
}

#[test]
fn no_hostile_value_is_accepted_from_an_edited_lock() {
    let locks = [
        (
            "features off",
            lock_table(&[
                "init",
                "--set",
                "name=voice-agent",
                "--set",
                &format!("domain={DOMAIN}"),
            ]),
        ),
        (
            "features on",
            lock_table(
                &common::init_args("twilio-voice", &[])
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    // The lock as written reads back: the refusals below are the edits'.
    for (name, lock) in &locks {
        std::fs::write(dir.path().join(LOCK_FILE), toml::to_string(lock).unwrap()).unwrap();
        assert!(
            Lock::read(dir.path()).is_ok(),
            "{name}: the untouched lock reads"
        );
    }
    let mut tried = 0;
    for (name, lock) in &locks {
        for (label, key, value) in cases() {
            let mut edited = lock.clone();
            let profile = edited["profile"].as_table_mut().unwrap();
            set(profile, key, value);
            std::fs::write(
                dir.path().join(LOCK_FILE),
                toml::to_string(&edited).unwrap(),
            )
            .unwrap();
            match Lock::read(dir.path()) {
                Err(Error::Lock { message, .. }) => assert!(
                    message.contains(&named(key)),
                    "{name}, lock: {label}: the message does not name {key}:\n{message}"
                ),
                Ok(_) => panic!("{name}, lock: {label}: accepted"),
                Err(other) => panic!("{name}, lock: {label}: {other}"),
            }
            tried += 1;
        }
    }
    assert!(tried > 1000, "the matrix ran: {tried}");
}

/// Every file under `dir` with its content.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The real binary, one hostile value per field: `init --set`, `init
/// --values`, and a lock edited after `init` read by `update` and `diff`.
/// Each exits 2 naming the field and writes nothing.
#[test]
fn the_commands_refuse_a_hostile_value_in_every_field() {
    const PAYLOAD: &str = "x$(touch /tmp/shipready-pwned)";
    let project = Run::new().args(common::init_args("twilio-voice", &[]));
    project.expect(0);
    let lock_path = project.path().join(LOCK_FILE);
    let original: toml::Table = std::fs::read_to_string(&lock_path)
        .unwrap()
        .parse()
        .unwrap();
    let before = contents(project.path());
    for field in FIELDS {
        let key = field.key;
        let value = shaped(field.kind, PAYLOAD);
        let mut table = toml::Table::new();
        set(&mut table, "edge.domain", DOMAIN.into());
        set(&mut table, key, value.clone());

        let set_arg = match key.strip_prefix("sidecars[].") {
            Some(_) => format!("sidecars={}", table["sidecars"]),
            None => format!("{key}={}", set_raw(&value)),
        };
        let run = Run::new().args(common::init_args("twilio-voice", &["--set", &set_arg]));
        let out = run.run();
        assert_eq!(out.code, 2, "--set {key} was not refused: {}", out.stderr);
        assert!(
            out.stderr.contains(&named(key)),
            "--set {key}: {}",
            out.stderr
        );
        assert!(
            run.files().is_empty(),
            "--set {key}: wrote {:?}",
            run.files()
        );

        let run = Run::new();
        std::fs::write(
            run.path().join("values.toml"),
            toml::to_string(&table).unwrap(),
        )
        .unwrap();
        // The domain comes from the file too, so the file's value is the last word.
        let run = Run::in_dir(run.dir).args([
            "init",
            "--preset",
            "twilio-voice",
            "--values",
            "values.toml",
        ]);
        let out = run.run();
        assert_eq!(
            out.code, 2,
            "--values {key} was not refused: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&named(key)),
            "--values {key}: {}",
            out.stderr
        );
        assert_eq!(run.files(), ["values.toml"], "--values {key}: wrote files");

        let mut edited = original.clone();
        set(edited["profile"].as_table_mut().unwrap(), key, value);
        std::fs::write(&lock_path, toml::to_string(&edited).unwrap()).unwrap();
        let edited_tree = contents(project.path());
        for command in ["update", "diff"] {
            let out = Run::in_dir(tempfile::tempdir().unwrap())
                .args([command, "--dir", &project.path().display().to_string()])
                .run();
            assert_eq!(out.code, 2, "{command} with {key} edited: {}", out.stderr);
            assert!(
                out.stderr.contains(&named(key)),
                "{command} {key}: {}",
                out.stderr
            );
            assert_eq!(
                contents(project.path()),
                edited_tree,
                "{command} {key} wrote"
            );
        }
    }
    // Put the lock back: the untouched project still updates cleanly.
    std::fs::write(&lock_path, toml::to_string(&original).unwrap()).unwrap();
    let out = Run::in_dir(tempfile::tempdir().unwrap())
        .args(["diff", "--dir", &project.path().display().to_string()])
        .run();
    assert_eq!(out.code, 0, "the restored lock diffs clean: {}", out.stderr);
    assert_eq!(contents(project.path()).len(), before.len());
}

/// The error for `--set` pairs on top of a valid base, as a person reads it.
fn message_for(sets: &[&str]) -> String {
    let base = bases().remove(1).1;
    let pairs: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match Layer::from_assignments(&pairs).and_then(|l| Profile::from_layers(&[base, l])) {
        Ok(_) => panic!("{sets:?} accepted"),
        Err(e) => e.to_string(),
    }
}

fn message_for_values(text: &str) -> String {
    let base = bases().remove(1).1;
    match Layer::from_toml(text, "values.toml").and_then(|l| Profile::from_layers(&[base, l])) {
        Ok(_) => panic!("{text:?} accepted"),
        Err(e) => e.to_string(),
    }
}

fn assert_says(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "lacks {needle:?}:\n{message}");
    }
}

#[test]
fn each_kind_of_mistake_names_field_value_and_what_is_accepted() {
    // (--set pair, what the message must say), one per kind of field.
    let table: &[(&str, &[&str])] = &[
        (
            "service.port=abc",
            &["service.port = \"abc\": expected a port from 1024 to 65535, as a whole number"],
        ),
        (
            "service.port=70000",
            &["service.port = \"70000\"", "from 1024 to 65535"],
        ),
        (
            "redis.maxmemory_mb=lots",
            &["redis.maxmemory_mb = \"lots\": expected a whole number from 16 to 1048576"],
        ),
        (
            "worker.enabled=yes",
            &["worker.enabled = \"yes\": expected true or false"],
        ),
        (
            "alerts.cpu_ratio=high",
            &["alerts.cpu_ratio = \"high\": expected a fraction between 0 and 1"],
        ),
        (
            "alerts.cpu_ratio=1.5",
            &["alerts.cpu_ratio = \"1.5\": expected a fraction between 0 and 1"],
        ),
        (
            "runtime=nodejs",
            &[
                "service.runtime = \"nodejs\"",
                "\"node\" or \"fastapi\"",
                "did you mean \"node\"?",
            ],
        ),
        (
            "voice.provider=twillio",
            &["voice.provider = \"twillio\"", "did you mean \"twilio\"?"],
        ),
        (
            "postgres.version=18",
            &["postgres.version = \"18\"", "\"16\"", "\"17\""],
        ),
        (
            "aws.staging.app_cpu=300",
            &[
                "aws.staging.app_cpu = \"300\"",
                "256, 512, 1024, 2048 or 4096",
            ],
        ),
        (
            "worker.metrics_port=80",
            &[
                "worker.metrics_port = \"80\"",
                "0 (none) or a whole number from 1024",
            ],
        ),
        (
            "domain=voice.example.com;reboot",
            &["edge.domain = \"voice.example.com;reboot\"", "a DNS name"],
        ),
        (
            "edge.cors_origins=https://a.example.com,*",
            &["edge.cors_origins[1] = \"*\"", "never '*'"],
        ),
        (
            "service.static_dir=secrets",
            &[
                "service.static_dir = \"secrets\"",
                "never '.', '..', '.git', 'secrets'",
            ],
        ),
        (
            "voice.webhook_path=/health",
            &[
                "voice.webhook_path = \"/health\"",
                "service.health_path is already \"/health\"",
            ],
        ),
        (
            "ci.main_branch=.",
            &["ci.main_branch = \".\"", "a branch name git accepts"],
        ),
        (
            "service.start_command=-x run",
            &[
                "service.start_command[0] = \"-x\"",
                "the first word not starting with '-'",
            ],
        ),
        (
            "ci.github_repository=../..",
            &["ci.github_repository = \"../..\"", "owner/name"],
        ),
    ];
    for (set, needles) in table {
        let m = message_for(&[set]);
        assert_says(&m, needles);
    }
    // A number too large for the field is named too (not a Rust type).
    assert!(!message_for(&["service.port=70000"]).contains("u16"));
}

#[test]
fn lists_are_accepted_comma_separated_and_explained_when_given_as_a_string() {
    let base = bases().remove(1).1;
    let set = Layer::from_assignments(&[
        "edge.cors_origins=https://a.example.com, https://b.example.com".into(),
        "worker.queues=calls,transcripts".into(),
        "service.start_command=node dist/server.js --trace-warnings".into(),
    ])
    .unwrap();
    let p = Profile::from_layers(&[base, set]).unwrap();
    assert_eq!(
        p.edge.cors_origins,
        ["https://a.example.com", "https://b.example.com"]
    );
    assert_eq!(p.worker.queues, ["calls", "transcripts"]);
    assert_eq!(
        p.service.start_command,
        ["node", "dist/server.js", "--trace-warnings"]
    );
    let m = message_for_values("[edge]\ncors_origins = \"https://a.example.com\"\n");
    assert_says(
        &m,
        &[
            "edge.cors_origins = \"https://a.example.com\"",
            "a list, not a string",
            "cors_origins = [\"https://a.example.com\"]",
        ],
    );
    // A version typed as a number on the command line is the text typed.
    let base = bases().remove(1).1;
    let set = Layer::from_assignments(&[
        "runtime=fastapi".into(),
        "service.runtime_version=3.12".into(),
    ])
    .unwrap();
    assert_eq!(
        Profile::from_layers(&[base, set])
            .unwrap()
            .service
            .runtime_version,
        "3.12"
    );
}

#[test]
fn unknown_keys_presets_and_bad_toml_point_at_the_fix() {
    let m = Layer::from_assignments(&["edge.domian=x.example.com".into()])
        .unwrap_err()
        .to_string();
    assert_says(
        &m,
        &["unknown key 'edge.domian'", "Did you mean edge.domain?"],
    );
    let m = Layer::from_assignments(&["domian=x.example.com".into()])
        .unwrap_err()
        .to_string();
    assert_says(&m, &["unknown key 'domian'", "Did you mean edge.domain?"]);
    let m = message_for_values("[edge]\ndomian = \"x.example.com\"\n");
    assert_says(&m, &["edge.domian", "Did you mean edge.domain?"]);
    let m = message_for_values("[service]\nprot = 3000\n");
    assert_says(&m, &["service.prot", "Did you mean service.port?"]);
    let m = message_for_values("[edge]\nport = 3000\n");
    assert_says(&m, &["edge.port", "Did you mean service.port?"]);
    let m = message_for_values("edge = \"x.example.com\"\n");
    assert_says(&m, &["edge = \"x.example.com\"", "a section: write [edge]"]);
    let m = message_for_values("[servce]\nport = 3000\n");
    assert_says(&m, &["servce", "unknown key", "Did you mean [service]?"]);

    let m = Preset::find("twilio-vocie").unwrap_err().to_string();
    assert_says(
        &m,
        &[
            "unknown preset 'twilio-vocie'",
            "Did you mean twilio-voice?",
        ],
    );
    let out = Run::new()
        .args([
            "init",
            "--preset",
            "twilio-vocie",
            "--set",
            "domain=x.example.com",
        ])
        .expect(2);
    // On the command line clap knows the names and suggests the near one.
    assert_says(&out.stderr, &["a similar value exists: 'twilio-voice'"]);

    let m = message_for_values("[edge]\ndomain = \"x.example.com\"\nmax_body_mb = = 3\n");
    assert_says(&m, &["values.toml, line 3, column", "not valid TOML"]);

    // The short forms of --set work at the top of a values file.
    let base = bases().remove(0).1;
    let values =
        Layer::from_toml("domain = \"short.example.com\"\nname = \"short\"\n", "v").unwrap();
    let p = Profile::from_layers(&[base, values]).unwrap();
    assert_eq!(
        (p.edge.domain.as_str(), p.service.name.as_str()),
        ("short.example.com", "short")
    );
}

#[test]
fn presets_show_lists_every_key_within_80_columns() {
    for preset in Preset::all() {
        let out = Run::new().args(["presets", "show", &preset.name]).expect(0);
        for line in out.stdout.lines() {
            assert!(line.chars().count() <= 80, "{}: {line:?}", preset.name);
        }
        for field in FIELDS {
            assert!(
                out.stdout.contains(&format!("\n{} = ", field.key)),
                "{}: {} missing",
                preset.name,
                field.key
            );
        }
        assert_says(
            &out.stdout,
            &[
                "edge.acme_email = \"\"",
                "ci.github_repository = \"\"",
                "accepts: owner/name",
            ],
        );
    }
    let out = Run::new()
        .args(["presets", "show", "twilio-voice"])
        .expect(0);
    assert_says(
        &out.stdout,
        &["voice.provider = \"twilio\"\n    (preset; default: \"none\")"],
    );
}

/// The branch rule admits nothing `git check-ref-format --branch` refuses.
#[test]
fn branch_names_follow_git() {
    let git = require_tool("git");
    let names = [
        "main",
        "develop",
        "release/1.2",
        "feature/x_y",
        "v1.0",
        ".",
        "..",
        "-x",
        "a..b",
        "a.lock",
        "/main",
        "main/",
        "a//b",
        "team/.hidden",
        "a.",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "@",
        "a@{1}",
        "HEAD",
        "x/-y",
    ];
    let mut accepted = 0;
    for name in names {
        let git_ok = Command::new(&git)
            .args(["check-ref-format", "--branch", name])
            .output()
            .unwrap()
            .status
            .success();
        if is_branch(name) {
            accepted += 1;
            assert!(git_ok, "{name:?} is accepted but git refuses it");
        }
    }
    assert!(accepted >= 5, "the plain names pass: {accepted}");
}

/// The domain limit is nginx's: the longest accepted name starts nginx, one
/// character more does not. The path rules are too: each refused collision
/// is a duplicate location to nginx.
#[test]
fn nginx_agrees_with_the_domain_and_path_rules() {
    use shipready::verify::edge::{nginx_sandbox, NginxPorts};
    require_tool("openssl");
    let nginx = require_tool("nginx");
    let longest = format!("{}.example.com", "a".repeat(MAX_DOMAIN_LEN - 12));
    assert_eq!(longest.len(), MAX_DOMAIN_LEN);
    let run = common::init_preset_with("twilio-voice", &[&format!("domain={longest}")]);
    let nginx_t = |root: &Path| {
        let ports = NginxPorts {
            http: common::free_port(),
            https: common::free_port(),
            status: common::free_port(),
            upstream: common::free_port(),
        };
        let sandbox = nginx_sandbox(root, ports).unwrap();
        let out = Command::new(&nginx)
            .arg("-t")
            .args(sandbox.args())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, log) = nginx_t(run.path());
    assert!(ok, "{log}");
    let one_more = format!("a{longest}");
    let site = run.path().join("deploy/nginx/conf.d/site.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(&site, text.replace(&longest, &one_more)).unwrap();
    let (ok, log) = nginx_t(run.path());
    assert!(!ok && log.contains("server_names_hash"), "{log}");
    let m = message_for(&[&format!("domain={one_more}")]);
    assert_says(&m, &["edge.domain", "at most 46 characters"]);

    // Paths the rules keep apart: rendered anyway (past validation), nginx
    // refuses the duplicate location; the profile refuses the value first.
    // (metrics_path = health_path is refused too, but the edge closes the
    // metrics path with a server-level rule, not a location, so nginx alone
    // would take it and answer the health check 404: the rule is what stops it.)
    let locked = Lock::read(run.path()).unwrap().unwrap().profile;
    for (key, value) in [
        ("voice.webhook_path", "/"),
        ("voice.websocket_path", "/"),
        ("service.auth_path", "/"),
        ("voice.webhook_path", "/twilio/media"),
    ] {
        let mut p = locked.clone();
        let mut table = toml::Table::try_from(&p).unwrap();
        set(&mut table, key, value.into());
        p = table.try_into().unwrap();
        assert!(p.validate().is_err(), "{key} = {value} is refused");
        let tree =
            shipready::core::render::render(&p, &shipready::core::templates::Templates::embedded())
                .unwrap();
        let conf = &tree.get("deploy/nginx/conf.d/site.conf").unwrap().contents;
        std::fs::write(&site, conf).unwrap();
        let (ok, log) = nginx_t(run.path());
        assert!(
            !ok && log.contains("duplicate location"),
            "{key} = {value}: {log}"
        );
    }
}
