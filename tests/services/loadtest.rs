//! The generated load test (`loadtest/`, `.github/workflows/loadtest.yml`):
//! it renders and compiles for every preset, its Twilio signer agrees with
//! Twilio's published test vectors, its shapes follow the profile, and it
//! really runs: headless for a few seconds against a stand-in service on
//! loopback (tests/fixtures/loadtest/server.py) that verifies webhook
//! signatures and tokens the way the service does and speaks WebSocket.
//! Signed traffic is all accepted and the run exits 0; a slow service or a
//! wrong token makes the SLO check fail the run.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, init_preset, require_tool, Server};
use shipready::preset::Preset;
use shipready::profile::{Layer, Profile, VoiceProvider};
use shipready::verify::{check, Outcome};

const FILES: &[&str] = &[
    "loadtest/locustfile.py",
    "loadtest/shapes.py",
    "loadtest/requirements.txt",
    "loadtest/README.md",
    ".github/workflows/loadtest.yml",
];

/// Locust and the Python of its virtualenv (the one that can import it).
fn locust() -> (PathBuf, PathBuf) {
    let locust = require_tool("locust");
    let python = locust.parent().expect("bin dir").join("python3");
    assert!(
        python.exists(),
        "{} has no python3 beside it",
        locust.display()
    );
    (locust, python)
}

fn profile(preset: &str) -> Profile {
    let p = Preset::all()
        .into_iter()
        .find(|p| p.name == preset)
        .unwrap_or_else(|| panic!("no preset {preset}"));
    let answers = Layer::from_assignments(&[format!("edge.domain={}", common::DOMAIN)]).unwrap();
    Profile::from_layers(&[p.layer(), answers]).unwrap()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loadtest/server.py")
}

/// Run `cmd` with output to files, killing it (by its pid) after `limit`.
fn run_bounded(cmd: &mut Command, dir: &Path, label: &str, limit: Duration) -> (i32, String) {
    let out_path = dir.join(format!("{label}.log"));
    let out = std::fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            // SIGABRT first: Python's faulthandler prints where it is stuck.
            let _ = Command::new("kill")
                .args(["-ABRT", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(1));
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{label}: still running after {limit:?}\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&out_path).unwrap_or_default();
    (status.code().unwrap_or(-1), log)
}

/// Fails listing every module-level import whose name is never used.
const UNUSED_IMPORTS: &str = r#"
import ast, sys
bad = []
for path in sys.argv[1:]:
    tree = ast.parse(open(path).read(), path)
    imported = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                imported[(a.asname or a.name).split(".")[0]] = node.lineno
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    bad += [f"{path}:{line}: {name} imported but unused" for name, line in imported.items() if name not in used]
print("\n".join(bad))
sys.exit(1 if bad else 0)
"#;

#[test]
fn every_preset_renders_the_load_test_and_it_compiles() {
    let (locust, python) = locust();
    require_tool("python3");
    for preset in common::presets() {
        let run = init_preset(&preset);
        for f in FILES {
            assert!(run.path().join(f).is_file(), "{preset}: {f} not written");
        }
        // verify's own py_compile, yamllint, actionlint and zizmor pass on
        // these files for every preset in tests/validators/validators.rs.
        // With the virtualenv's Python too, into a throwaway byte-code prefix.
        let cache = tempfile::tempdir().unwrap();
        let out = Command::new(&python)
            .current_dir(run.path())
            .env("PYTHONPYCACHEPREFIX", cache.path())
            .args([
                "-m",
                "py_compile",
                "loadtest/locustfile.py",
                "loadtest/shapes.py",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{preset}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // No import the profile's variant does not use (what pyflakes' F401
        // would flag), checked with the standard library's ast.
        let out = Command::new(&python)
            .current_dir(run.path())
            .args([
                "-c",
                UNUSED_IMPORTS,
                "loadtest/locustfile.py",
                "loadtest/shapes.py",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{preset}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Locust itself loads it and finds the user classes the profile implies.
        let out = Command::new(&locust)
            .current_dir(run.path())
            .env_remove("LOAD_SHAPE")
            .args(["-f", "loadtest/locustfile.py", "--list"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{preset}: {listed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = profile(&preset);
        let mut expected = vec!["HealthCheck", "ApiClient"];
        match p.voice.provider {
            VoiceProvider::Twilio => expected.push("TwilioCall"),
            VoiceProvider::Ringcentral => expected.push("RingCentralCall"),
            VoiceProvider::None => {}
        }
        if !p.voice.websocket_path.is_empty() && p.voice.provider != VoiceProvider::Twilio {
            expected.push("LiveSocket");
        }
        let classes: Vec<&str> = listed
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(classes, expected, "{preset}");
        // Pinned requirements.
        let req = run.read("loadtest/requirements.txt");
        assert!(req.lines().any(|l| l == "locust==2.47.0"), "{req}");
        assert_eq!(
            req.lines().any(|l| l == "websocket-client==1.9.2"),
            !p.voice.websocket_path.is_empty(),
            "{preset}: websocket-client pinned exactly when there is a WebSocket\n{req}"
        );
    }
}

#[test]
fn verify_fails_on_a_locustfile_that_does_not_compile() {
    require_tool("python3");
    let run = init_preset("twilio-voice");
    let broken = run
        .read("loadtest/locustfile.py")
        .replace("def call(self):", "def call(self)");
    std::fs::write(run.path().join("loadtest/locustfile.py"), broken).unwrap();
    let findings = check(run.path(), &["loadtest/locustfile.py"]);
    assert_eq!(findings.len(), 1);
    match &findings[0].result {
        Ok(Outcome::Fail(out)) => assert!(out.contains("SyntaxError"), "{out}"),
        other => panic!("expected a py_compile failure, got {other:?}"),
    }
    assert!(
        !run.path().join("loadtest/__pycache__").exists(),
        "verify must not write byte code into the tree"
    );
}

#[test]
fn workflow_is_hardened() {
    for preset in common::presets() {
        let run = init_preset(&preset);
        let wf = run.read(".github/workflows/loadtest.yml");
        assert!(wf.contains("\npermissions:\n  contents: read\n"), "{wf}");
        assert!(wf.contains("persist-credentials: false"), "{wf}");
        assert!(wf.contains("${{ vars.STAGING_URL }}"), "{wf}");
        // Run by hand or called by the Deploy workflow; never `workflow_run`
        // (it runs with the repository's secrets on another run's event).
        assert!(!wf.contains("workflow_run"), "{preset}: workflow_run\n{wf}");
        let doc: serde_norway::Value = serde_norway::from_str(&wf).unwrap();
        let on = doc.get("on").and_then(|o| o.as_mapping()).expect("on:");
        let triggers: Vec<&str> = on.keys().filter_map(|k| k.as_str()).collect();
        assert_eq!(triggers, ["workflow_dispatch", "workflow_call"], "{preset}");
        let dispatch = &on["workflow_dispatch"]["inputs"]["shape"];
        assert_eq!(dispatch["type"].as_str(), Some("choice"), "{preset}");
        assert_eq!(dispatch["default"].as_str(), Some("ramp"), "{preset}");
        let call = &on["workflow_call"];
        let inputs: Vec<&str> = call["inputs"]
            .as_mapping()
            .expect("workflow_call inputs")
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(inputs, ["shape"], "{preset}");
        assert_eq!(call["inputs"]["shape"]["type"].as_str(), Some("string"));
        assert_eq!(call["inputs"]["shape"]["default"].as_str(), Some("ramp"));
        // The one secret the run reads, declared by name and optional: a
        // team without it must not have its Deploy run fail at the call.
        let want_secret = match profile(&preset).voice.provider {
            VoiceProvider::Twilio => Some("STAGING_TWILIO_AUTH_TOKEN"),
            VoiceProvider::Ringcentral => Some("STAGING_RINGCENTRAL_VERIFICATION_TOKEN"),
            VoiceProvider::None => None,
        };
        let secrets: Vec<&str> = call
            .get("secrets")
            .and_then(|s| s.as_mapping())
            .map(|m| m.keys().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            secrets,
            want_secret.into_iter().collect::<Vec<_>>(),
            "{preset}"
        );
        for name in &secrets {
            assert_eq!(
                call["secrets"][*name]["required"].as_bool(),
                Some(false),
                "{preset}: {name}"
            );
            assert!(
                wf.contains(&format!("${{{{ secrets.{name} }}}}")),
                "{preset}: {name} is declared but not read\n{wf}"
            );
        }
        // No secret is handed over wholesale, here or by the caller.
        for file in [
            ".github/workflows/loadtest.yml",
            ".github/workflows/deploy.yml",
        ] {
            let text = run.read(file);
            assert!(
                !text.lines().any(|l| l.trim() == "secrets: inherit"),
                "{preset}: {file} uses secrets: inherit"
            );
        }
        // The commit checked out is the run's own (the deployed one when
        // Deploy calls it): nothing is taken from another run's event.
        assert!(!wf.contains("github.event"), "{preset}\n{wf}");
        let job = &doc["jobs"]["loadtest"];
        assert!(
            job.get("if").is_none(),
            "{preset}: the job runs whenever called"
        );
        // One load test at a time, whoever starts it.
        assert_eq!(
            doc["concurrency"]["group"].as_str(),
            Some("loadtest-staging")
        );
        assert_eq!(
            doc["concurrency"]["cancel-in-progress"].as_bool(),
            Some(false)
        );
        let mut uses = 0;
        for line in wf.lines().filter(|l| l.trim_start().starts_with("uses:")) {
            uses += 1;
            let spec = line.split("uses:").nth(1).unwrap().trim();
            let (action, rest) = spec.split_once('@').expect("uses has @");
            let sha = rest.split_whitespace().next().unwrap();
            assert!(
                sha.len() == 40 && sha.bytes().all(|c| c.is_ascii_hexdigit()),
                "{action} not pinned to a SHA: {line}"
            );
            assert!(rest.contains("# v"), "{action}: no tag comment: {line}");
        }
        assert_eq!(uses, 3, "{preset}");
        // No expression inside a run: block (inputs and secrets go via env:).
        let mut in_run = false;
        let mut run_indent = 0;
        for line in wf.lines() {
            let indent = line.len() - line.trim_start().len();
            if in_run && !line.trim().is_empty() && indent <= run_indent {
                in_run = false;
            }
            let t = line.trim_start();
            if t.starts_with("run:") || t.starts_with("- run:") {
                in_run = true;
                run_indent = indent;
                assert!(!t.contains("${{"), "{preset}: expression in run: {line}");
            } else if in_run {
                assert!(!line.contains("${{"), "{preset}: expression in run: {line}");
            }
        }
        assert!(!wf.contains("AWS_ACCESS_KEY"), "{wf}");
    }
}

#[test]
fn twilio_signer_matches_twilios_published_vectors() {
    let (_, python) = locust();
    let mut checked = 0;
    for preset in common::presets() {
        if profile(&preset).voice.provider != VoiceProvider::Twilio {
            continue;
        }
        checked += 1;
        let run = init_preset(&preset);
        // Vectors from twilio-python's request validator tests.
        let script = r#"
import locustfile as lf
url = "https://mycompany.com/myapp.php?foo=1&bar=2"
params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
          "To": "+18005551212", "Caller": "+14158675309"}
assert lf.twilio_signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8=", lf.twilio_signature(url, params, "12345")
dup = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
assert lf.twilio_signature(url, dup, "12345") == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
assert lf.twilio_signature(url, params, "54321") != "RSOYDt4T1cUTdK1PDd93/VVr8B8="
print("vectors ok")
"#;
        let cache = tempfile::tempdir().unwrap();
        let out = Command::new(&python)
            .current_dir(run.path().join("loadtest"))
            .env("PYTHONPYCACHEPREFIX", cache.path())
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("vectors ok"),
            "{preset}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        checked >= 2,
        "twilio-voice and prisma-voice are Twilio presets"
    );
}

#[test]
fn shapes_follow_the_profile() {
    let (locust, python) = locust();
    for preset in common::presets() {
        let p = profile(&preset);
        let run = init_preset(&preset);
        let (users, rate, soak) = (
            p.loadtest.users,
            p.loadtest.spawn_rate,
            p.loadtest.soak_minutes,
        );
        // Step each shape through time and print (second, users, rate).
        let script = r#"
import json, shapes
out = {}
for name, cls in shapes.SHAPES.items():
    s = cls()
    ticks, t = [], 0
    while True:
        s.get_run_time = lambda t=t: t
        r = s.tick()
        ticks.append(None if r is None else [t, r[0], r[1]])
        if r is None:
            break
        t += 1
    out[name] = ticks
print(json.dumps(out))
"#;
        let cache = tempfile::tempdir().unwrap();
        let out = Command::new(&python)
            .current_dir(run.path().join("loadtest"))
            .env("PYTHONPYCACHEPREFIX", cache.path())
            .env_remove("LOAD_USERS")
            .env_remove("LOAD_SPAWN_RATE")
            .env_remove("LOAD_SOAK_MINUTES")
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{preset}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shapes: BTreeMap<String, Vec<Option<[u64; 3]>>> =
            serde_json::from_slice(&out.stdout).unwrap();
        let peak = |name: &str| shapes[name].iter().flatten().map(|t| t[1]).max().unwrap();
        let seconds = |name: &str| shapes[name].len() as u64 - 1;
        let spawn = u64::from(users.div_ceil(rate));
        for name in ["ramp", "soak", "spike"] {
            assert_eq!(
                peak(name),
                u64::from(users),
                "{preset} {name} peaks at users"
            );
            assert!(shapes[name].last().unwrap().is_none(), "{name} ends");
        }
        assert_eq!(seconds("soak"), spawn + u64::from(soak) * 60, "{preset}");
        let soak_ticks: Vec<_> = shapes["soak"].iter().flatten().collect();
        assert!(soak_ticks
            .iter()
            .all(|t| t[1] == u64::from(users) && t[2] == u64::from(rate)));
        // Ramp: four rising steps.
        let mut steps: Vec<u64> = shapes["ramp"].iter().flatten().map(|t| t[1]).collect();
        steps.dedup();
        assert_eq!(steps.len(), 4, "{preset}: {steps:?}");
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
        // Spike: baseline, everyone at once, back to the baseline.
        let spike: Vec<[u64; 3]> = shapes["spike"].iter().flatten().copied().collect();
        let baseline = spike[0][1];
        assert!(baseline < u64::from(users) || users == 1);
        let at_peak = spike.iter().find(|t| t[1] == u64::from(users)).unwrap();
        assert_eq!(
            at_peak[2],
            u64::from(users),
            "the spike arrives within a second"
        );
        assert_eq!(
            spike.last().unwrap()[1],
            baseline,
            "recovers to the baseline"
        );

        // LOAD_SHAPE picks the class; an unknown name is refused.
        for (shape, ok) in [("soak", true), ("nonsense", false)] {
            let out = Command::new(&locust)
                .current_dir(run.path())
                .env("LOAD_SHAPE", shape)
                .args(["-f", "loadtest/locustfile.py", "--list"])
                .output()
                .unwrap();
            assert_eq!(out.status.success(), ok, "{preset} LOAD_SHAPE={shape}");
        }
    }
}

/// Fixture server options and what the run must show.
struct Live {
    preset: &'static str,
    /// Extra fixture flags (`--delay-ms`).
    server_args: Vec<String>,
    /// Token given to Locust (the server has the right one).
    client_token: &'static str,
}

const TOKEN: &str = "test-token-5f1c";

struct LiveRun {
    code: i32,
    log: String,
    /// Locust's final stats: (type, name) -> (requests, failures).
    rows: BTreeMap<(String, String), (u64, u64)>,
    server: serde_json::Value,
}

fn live(cfg: Live) -> LiveRun {
    let (locust, python) = locust();
    let p = profile(cfg.preset);
    let run = init_preset(cfg.preset);
    let port = free_port();
    let provider = match p.voice.provider {
        VoiceProvider::Twilio => "twilio",
        VoiceProvider::Ringcentral => "ringcentral",
        VoiceProvider::None => "none",
    };
    let public = format!("https://{}", common::DOMAIN);
    let mut server = Command::new(&python);
    server
        .arg(fixture())
        .args(["--port", &port.to_string(), "--provider", provider])
        .args(["--token", TOKEN, "--public-url", &public])
        .args(["--health", &p.service.health_path])
        .args(["--ready", &p.service.ready_path])
        .args(["--api-prefix", &p.service.api_prefix])
        .args(["--ping-interval-ms", "500", "--ping-timeout-ms", "1500"])
        .args(&cfg.server_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if p.voice.provider != VoiceProvider::None {
        server.args(["--webhook", &p.voice.webhook_path]);
    }
    if !p.voice.websocket_path.is_empty() {
        server.args(["--ws-path", &p.voice.websocket_path]);
    }
    let mut server = Server(server.spawn().expect("fixture server starts"));
    server.wait_for_port(port, "the fixture server");

    let out_dir = tempfile::tempdir().unwrap();
    // The JSON stats are written after every user has stopped (the CSV files
    // are written on a timer and can miss the last second).
    let json = out_dir.path().join("run");
    let mut cmd = Command::new(&locust);
    cmd.current_dir(run.path())
        .env_remove("LOAD_SHAPE")
        .env_remove("LOAD_API_PATHS")
        .env("PUBLIC_BASE_URL", &public)
        .env("TWILIO_AUTH_TOKEN", cfg.client_token)
        .env("RINGCENTRAL_VERIFICATION_TOKEN", cfg.client_token)
        .env("LOAD_CALL_SECONDS", "1.5")
        .env("PYTHONFAULTHANDLER", "1")
        .args(["-f", "loadtest/locustfile.py", "--headless"])
        .args(["-u", "5", "-r", "5", "-t", "4s"])
        .args(["--host", &format!("http://127.0.0.1:{port}")])
        .args(["--only-summary", "--json-file"])
        .arg(&json);
    let (code, log) = run_bounded(&mut cmd, out_dir.path(), "locust", Duration::from_secs(30));

    let stats = std::fs::read_to_string(out_dir.path().join("run.json"))
        .unwrap_or_else(|e| panic!("no JSON stats ({e})\n{log}"));
    let entries: Vec<serde_json::Value> = serde_json::from_str(&stats).unwrap();
    let mut rows = BTreeMap::new();
    for e in entries {
        rows.insert(
            (
                e["method"].as_str().unwrap_or_default().to_string(),
                e["name"].as_str().unwrap().to_string(),
            ),
            (n(&e, "num_requests"), n(&e, "num_failures")),
        );
    }
    LiveRun {
        code,
        log,
        rows,
        server: server_stats(port),
    }
}

fn server_stats(port: u16) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /__stats HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap()
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

/// A healthy service: exit 0, every request (and every signed webhook)
/// accepted, streams held, and each kind of client actually ran.
fn passes(preset: &'static str) {
    let p = profile(preset);
    let o = live(Live {
        preset,
        server_args: vec![],
        client_token: TOKEN,
    });
    let ctx = format!("{preset}\n{}\n{:#?}\n{}", o.log, o.rows, o.server);
    assert_eq!(o.code, 0, "the run must pass: {ctx}");
    assert!(o.log.contains("SLO met"), "{ctx}");
    for ((kind, name), (reqs, fails)) in &o.rows {
        assert_eq!(*fails, 0, "{kind} {name} had failures: {ctx}");
        assert!(*reqs > 0, "{ctx}");
    }
    let has = |kind: &str, name: &str| {
        o.rows
            .get(&(kind.to_string(), name.to_string()))
            .map_or(0, |r| r.0)
    };
    assert!(has("GET", &p.service.health_path) > 0, "{ctx}");
    assert!(has("GET", &p.service.ready_path) > 0, "{ctx}");
    assert!(has("GET", &p.service.api_prefix) > 0, "{ctx}");
    assert_eq!(n(&o.server, "http_rejected"), 0, "{ctx}");
    assert_eq!(n(&o.server, "http_not_found"), 0, "{ctx}");
    assert_eq!(n(&o.server, "ws_protocol_errors"), 0, "{ctx}");
    if p.voice.provider != VoiceProvider::None {
        let webhooks = has("POST", &p.voice.webhook_path);
        assert!(webhooks > 0, "{ctx}");
        // Every signed (or token-carrying) webhook the client sent was
        // verified and accepted by the server (none rejected, above). The
        // server may count one more: a request still in flight when the run
        // stops is verified but never recorded by the client.
        let verified = n(&o.server, "webhooks_verified");
        assert!(verified >= webhooks && verified <= webhooks + 5, "{ctx}");
    }
    if p.voice.provider == VoiceProvider::Ringcentral {
        let handshakes = has("POST", &format!("{} (validation)", p.voice.webhook_path));
        assert!(handshakes > 0, "{ctx}");
        let echoes = n(&o.server, "validation_echoes");
        assert!(echoes >= handshakes && echoes <= handshakes + 5, "{ctx}");
    }
    if !p.voice.websocket_path.is_empty() {
        let path = &p.voice.websocket_path;
        assert!(has("WS", path) > 0, "{ctx}");
        assert_eq!(n(&o.server, "ws_connections"), has("WS", path), "{ctx}");
        assert_eq!(n(&o.server, "ws_rejected"), 0, "{ctx}");
        let streams = has("STREAM", path);
        assert!(streams > 0, "a stream was held to its end: {ctx}");
        // 20 ms frames on a steady clock: a stream held 1.5 s sends 75.
        assert!(n(&o.server, "ws_frames") >= 74 * streams, "{ctx}");
        if path.ends_with("/socket.io/") {
            assert!(n(&o.server, "ws_pongs") > 0, "pings answered: {ctx}");
            assert_eq!(n(&o.server, "ws_ping_timeouts"), 0, "{ctx}");
        }
    }
}

/// A slow service: every response takes longer than the p95 objective, so
/// the SLO check fails the run although nothing errored.
fn fails_when_slow(preset: &'static str) {
    let p95 = profile(preset).alerts.latency_p95_ms;
    let o = live(Live {
        preset,
        server_args: vec!["--delay-ms".into(), (p95 + 300).to_string()],
        client_token: TOKEN,
    });
    let ctx = format!("{preset}\n{}\n{:#?}\n{}", o.log, o.rows, o.server);
    assert_ne!(o.code, 0, "a slow service must fail the run: {ctx}");
    assert!(o.log.contains("SLO FAILED: p95 latency"), "{ctx}");
    assert!(
        o.rows.values().all(|r| r.1 == 0),
        "only latency failed: {ctx}"
    );
}

/// The wrong secret: the server rejects the webhooks with 403 and the error
/// ratio fails the run. Shows the server's check (and so the pass above) is real.
fn fails_with_a_wrong_token(preset: &'static str) {
    let o = live(Live {
        preset,
        server_args: vec![],
        client_token: "not-the-token",
    });
    let ctx = format!("{preset}\n{}\n{:#?}\n{}", o.log, o.rows, o.server);
    assert_ne!(o.code, 0, "{ctx}");
    assert!(n(&o.server, "http_rejected") > 0, "{ctx}");
    assert_eq!(n(&o.server, "webhooks_verified"), 0, "{ctx}");
    assert!(o.log.contains("SLO FAILED: error ratio"), "{ctx}");
}

#[test]
fn live_twilio_voice() {
    passes("twilio-voice");
    fails_when_slow("twilio-voice");
    fails_with_a_wrong_token("twilio-voice");
}

#[test]
fn live_ringcentral_hold_hunter() {
    passes("ringcentral-hold-hunter");
    fails_when_slow("ringcentral-hold-hunter");
    fails_with_a_wrong_token("ringcentral-hold-hunter");
}

#[test]
fn live_node_dashboard() {
    passes("node-dashboard");
    fails_when_slow("node-dashboard");
}

#[test]
fn live_prisma_voice() {
    passes("prisma-voice");
}

#[test]
fn live_fastapi_three_tier() {
    passes("fastapi-three-tier");
    fails_when_slow("fastapi-three-tier");
}

#[test]
fn a_missing_token_stops_the_run_before_any_traffic() {
    let (locust, _) = locust();
    for preset in ["twilio-voice", "ringcentral-hold-hunter"] {
        let run = init_preset(preset);
        let out = Command::new(&locust)
            .current_dir(run.path())
            .env_remove("TWILIO_AUTH_TOKEN")
            .env_remove("RINGCENTRAL_VERIFICATION_TOKEN")
            .env_remove("LOAD_SHAPE")
            .args([
                "-f",
                "loadtest/locustfile.py",
                "--headless",
                "-u",
                "1",
                "-t",
                "1s",
            ])
            .args(["--host", "http://127.0.0.1:9"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{preset}: {err}");
        assert!(err.contains("is not set"), "{preset}: {err}");
    }
}
