//! The WebSocket alerts read what the generated metrics modules really
//! export. Each module runs in a real server, wired as its header says: a
//! `ws` WebSocketServer on node:http with `metrics.trackWebSockets(wss)`,
//! and uvicorn (websockets protocol) serving an ASGI app behind
//! `PrometheusMiddleware`; and a Socket.IO server wired with the snippet the
//! module documents for Socket.IO paths. Real clients (`ws`, `websockets`,
//! engine.io over `ws`) close cleanly,
//! drop the TCP connection without a close frame, get refused, and one
//! stays open. Then the metrics path is scraped over HTTP and
//! (a) `promtool check metrics` accepts the scrape;
//! (b) the counters hold exactly what the clients did;
//! (c) every websocket_* name the rules query is in the scrape;
//! (d) the scraped counts, replayed every minute through the generated
//!     rules/app.yml with `promtool test rules`, fire WebSocketAbnormalCloses
//!     and WebSocketUpgradesFailing with the severity the rules give them,
//!     and the same replay with clean closes only stays quiet.

use crate::common;
use common::promtool;

use std::collections::BTreeMap;
use std::process::Command;

use common::installed::test_package;
use common::{init_preset_with, require_tool, run_json, Run};

/// What a driver's clients do: close cleanly, drop abnormally, get
/// refused, stay open at the scrape.
struct Clients {
    clean: u32,
    dropped: u32,
    refused: u32,
    left_open: u32,
}

/// The ws and uvicorn drivers' clients (the counts are passed to them).
const CLIENTS: Clients = Clients {
    clean: 2,
    dropped: 3,
    refused: 1,
    left_open: 1,
};

/// What SOCKETIO_DRIVER does.
const SOCKETIO_CLIENTS: Clients = Clients {
    clean: 2,
    dropped: 1,
    refused: 1,
    left_open: 1,
};

const NODE_DRIVER: &str = r#"
const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');
const [modulePath, wsPath, metricsPath, clean, dropped, refused, leftOpen] = process.argv.slice(2);
const metrics = require(modulePath);

const server = http.createServer((req, res) => {
  req.originalUrl = req.url;
  metrics.middleware(req, res, () => {
    if (req.url === metricsPath) { metrics.handler(req, res); return; }
    res.statusCode = 404; res.end();
  });
});
// The app refuses a stream without its token, as a Twilio <Stream> URL carries one.
const wss = new WebSocketServer({
  server, path: wsPath,
  verifyClient: (info) => new URL(info.req.url, 'http://app').searchParams.get('token') === 'good',
});
metrics.trackWebSockets(wss);
wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));

const scrape = (port) => new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port, path: metricsPath }, (res) => {
    let body = ''; res.on('data', (c) => { body += c; }); res.on('end', () => resolve(body));
  }).on('error', reject);
});
const opened = (url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url); ws.once('open', () => resolve(ws)); ws.once('error', reject);
});

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const url = (token) => `ws://127.0.0.1:${port}${wsPath}?token=${token}`;
  for (let i = 0; i < Number(clean); i++) {
    const ws = await opened(url('good'));
    ws.send('hello');
    await new Promise((r) => ws.once('message', r));
    ws.close(1000, 'done');
    await new Promise((r) => ws.once('close', r));
  }
  for (let i = 0; i < Number(dropped); i++) {
    const ws = await opened(url('good'));
    ws.terminate(); // the TCP connection goes, no close frame: a network drop
  }
  const refusals = [];
  for (let i = 0; i < Number(refused); i++) {
    refusals.push(await new Promise((resolve) => {
      const ws = new WebSocket(url('bad'));
      ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
      ws.once('open', () => resolve('opened'));
      ws.once('error', () => {});
    }));
  }
  const open = [];
  for (let i = 0; i < Number(leftOpen); i++) open.push(await opened(url('good')));
  // The server sees each drop a moment after the client: wait for them all.
  const want = Number(clean) + Number(dropped);
  let text = '';
  for (let tries = 0; tries < 100; tries++) {
    text = await scrape(port);
    const closed = [...text.matchAll(/^websocket_connections_closed_total\{[^}]*\} (\d+)$/gm)]
      .reduce((n, m) => n + Number(m[1]), 0);
    if (closed >= want) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify({ refusals, scrape: text }));
  process.exit(0);
});
"#;

/// A Socket.IO server wired with the snippet the module documents (argv),
/// and engine.io v4 clients spoken over `ws`: two leave cleanly (a
/// namespace disconnect, a closed socket), one stops answering pings, one
/// is refused by allowRequest, one stays.
const SOCKETIO_DRIVER: &str = r#"
const http = require('node:http');
const { Server } = require('socket.io');
const { WebSocket } = require('ws');
const [modulePath, ioPath, metricsPath, snippet] = process.argv.slice(2);
const metrics = require(modulePath);

const server = http.createServer((req, res) => {
  req.originalUrl = req.url;
  metrics.middleware(req, res, () => {
    if (req.url === metricsPath) { metrics.handler(req, res); return; }
    res.statusCode = 404; res.end();
  });
});
const io = new Server(server, {
  path: ioPath, transports: ['websocket'], pingInterval: 200, pingTimeout: 200,
  allowRequest: (req, cb) => cb(null, new URL(req.url, 'http://app').searchParams.get('token') === 'good'),
});
eval(snippet);

const scrape = (port) => new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port, path: metricsPath }, (res) => {
    let body = ''; res.on('data', (c) => { body += c; }); res.on('end', () => resolve(body));
  }).on('error', reject);
});
// An engine.io v4 client on a WebSocket, joined to the main namespace.
const join = (port, { answerPings = true } = {}) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${ioPath}?EIO=4&transport=websocket&token=good`);
  ws.on('message', (data) => {
    const m = String(data);
    if (m.startsWith('0')) ws.send('40');
    else if (m.startsWith('40')) resolve(ws);
    else if (m === '2' && answerPings) ws.send('3');
  });
  ws.once('error', reject);
});

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const a = await join(port);
  a.send('41'); // disconnect from the namespace
  const b = await join(port);
  b.close(1000);
  await join(port, { answerPings: false }); // silent: the server times it out
  const refusals = [await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${ioPath}?EIO=4&transport=websocket&token=bad`);
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.once('open', () => resolve('opened'));
    ws.once('error', () => {});
  })];
  const stay = await join(port);
  let text = '';
  for (let tries = 0; tries < 100; tries++) {
    text = await scrape(port);
    const closed = [...text.matchAll(/^websocket_connections_closed_total\{[^}]*\} (\d+)$/gm)]
      .reduce((n, m) => n + Number(m[1]), 0);
    if (closed >= 3) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify({ refusals, scrape: text }));
  stay.terminate();
  process.exit(0);
});
"#;

const PY_DRIVER: &str = r#"
import asyncio, importlib.util, json, re, socket, sys, urllib.request

import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

spec = importlib.util.spec_from_file_location("metrics", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
ws_path, metrics_path = sys.argv[2], sys.argv[3]
clean, dropped, refused, left_open = (int(x) for x in sys.argv[4:8])

async def not_found(send):
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})

async def app(scope, receive, send):
    if scope["type"] == "http":
        if scope["path"] == metrics_path:
            await m.metrics_endpoint(scope, receive, send)
        else:
            await not_found(send)
        return
    assert scope["type"] == "websocket"
    await receive()  # websocket.connect
    # The app refuses a stream without its token.
    if scope["path"] != ws_path or b"token=good" not in scope["query_string"]:
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})

async def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(m.PrometheusMiddleware(app), ws="websockets", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
    url = lambda token: f"ws://127.0.0.1:{port}{ws_path}?token={token}"
    for _ in range(clean):
        async with connect(url("good")) as ws:
            await ws.send("hello")
            await ws.recv()
    for _ in range(dropped):
        ws = await connect(url("good"))
        ws.transport.abort()  # the TCP connection goes, no close frame: a network drop
    refusals = []
    for _ in range(refused):
        try:
            async with connect(url("bad")):
                refusals.append("opened")
        except InvalidStatus as e:
            refusals.append(e.response.status_code)
    left = [await connect(url("good")) for _ in range(left_open)]
    scrape = lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}{metrics_path}").read().decode()
    for _ in range(100):
        text = await asyncio.to_thread(scrape)
        closed = sum(int(n) for n in re.findall(r"^websocket_connections_closed_total\{[^}]*\} (\d+)$", text, re.M))
        if closed >= clean + dropped:
            break
        await asyncio.sleep(0.05)
    print(json.dumps({"refusals": refusals, "scrape": text}))
    for ws in left:
        ws.transport.abort()
    server.should_exit = True
    await task

asyncio.run(main())
"#;

fn must_pass(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what}: {cmd:?} failed:\n{text}");
    text
}

/// The websocket_* samples of a scrape: series text (`name{labels}` as
/// written) -> value.
fn websocket_samples(scrape: &str) -> BTreeMap<String, f64> {
    scrape
        .lines()
        .filter(|l| l.starts_with("websocket_"))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series and value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// The severity of `alert` in a rules file.
fn severity_of(rules: &str, alert: &str) -> String {
    let from = rules
        .find(&format!("- alert: {alert}\n"))
        .unwrap_or_else(|| panic!("{alert} is not in the rules"));
    rules[from..]
        .lines()
        .find_map(|l| l.trim().strip_prefix("severity: "))
        .expect("a severity")
        .to_string()
}

/// Replays `samples` as counters growing by their value every minute (the
/// gauge held) through rules/app.yml; `fire` says whether both alerts must
/// fire or both stay quiet.
fn replay(run: &Run, samples: &BTreeMap<String, f64>, fire: bool, what: &str) {
    let rules = run.read("monitoring/prometheus/rules/app.yml");
    let mut series = String::new();
    for (name, value) in samples {
        let (metric, labels) = name.split_once('{').unwrap_or((name, "}"));
        let labels = labels.trim_end_matches('}');
        let sep = if labels.is_empty() { "" } else { ", " };
        let values = if metric.ends_with("_total") {
            format!("0+{value}x45")
        } else {
            format!("{value}x45")
        };
        series.push_str(&format!(
            "      - series: '{metric}{{job=\"app\", instance=\"app:3000\"{sep}{labels}}}'\n        values: \"{values}\"\n"
        ));
    }
    let mut tests = String::new();
    for alert in ["WebSocketAbnormalCloses", "WebSocketUpgradesFailing"] {
        let labels = if fire {
            format!(
                "\n          - labels: 'ALERTS{{alertname=\"{alert}\", alertstate=\"firing\", severity=\"{}\"}}'\n            value: 1",
                severity_of(&rules, alert)
            )
        } else {
            " []".to_string()
        };
        tests.push_str(&format!(
            "      - expr: ALERTS{{alertname=\"{alert}\"}}\n        eval_time: 45m\n        exp_samples:{labels}\n"
        ));
    }
    let file = format!(
        "rule_files:\n  - ../rules/app.yml\n\nevaluation_interval: 1m\n\ntests:\n  - name: scraped websockets, every minute\n    interval: 1m\n    input_series:\n{series}    promql_expr_test:\n{tests}"
    );
    let rel = "monitoring/prometheus/tests/scraped-websockets.test.yml";
    promtool::test_rules(run, rel, &file, what);
}

/// (a) to (d) on a driver's output.
fn check(run: &Run, out: &serde_json::Value, c: &Clients, what: &str) {
    let refusals = out["refusals"].as_array().expect("refusals");
    assert_eq!(refusals.len(), c.refused as usize, "{what}");
    for r in refusals {
        let code = r.as_u64().unwrap_or_else(|| panic!("{what}: refused {r}"));
        assert!(
            (400..500).contains(&code),
            "{what}: refusal answered {code}"
        );
    }
    let scrape = out["scrape"].as_str().expect("scrape");
    promtool::check_metrics(scrape, what);
    let samples = websocket_samples(scrape);
    let want: BTreeMap<String, f64> = [
        (
            "websocket_connections_opened_total",
            c.clean + c.dropped + c.left_open,
        ),
        (
            "websocket_connections_closed_total{outcome=\"normal\"}",
            c.clean,
        ),
        (
            "websocket_connections_closed_total{outcome=\"abnormal\"}",
            c.dropped,
        ),
        ("websocket_upgrades_failed_total", c.refused),
        ("websocket_connections_open", c.left_open),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), f64::from(v)))
    .collect();
    assert_eq!(samples, want, "{what}: the counters\n{scrape}");

    // (c) Every websocket metric the rules name is one the module exports.
    let rules = run.read("monitoring/prometheus/rules/app.yml");
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("websocket_") && word.len() > "websocket_".len() {
            named += 1;
            assert!(
                scrape.contains(&format!("# TYPE {word} ")),
                "{what}: the rules read {word}, which the module does not export:\n{scrape}"
            );
        }
    }
    assert!(
        named >= 3,
        "{what}: the rules name {named} websocket metrics"
    );

    // (d) The scrape fires both alerts; clean closes only keep them quiet.
    replay(run, &samples, true, what);
    let healthy: BTreeMap<String, f64> = samples
        .iter()
        .map(|(k, v)| {
            let v = if k.contains("abnormal") || k.starts_with("websocket_upgrades_failed") {
                0.0
            } else {
                *v
            };
            (k.clone(), v)
        })
        .collect();
    replay(run, &healthy, false, &format!("{what}, clean closes only"));
}

fn counts() -> [String; 4] {
    let c = CLIENTS;
    [c.clean, c.dropped, c.refused, c.left_open].map(|n| n.to_string())
}

/// The code lines of the module's documented Socket.IO usage.
fn socketio_usage(module: &str) -> String {
    let code: Vec<&str> = module
        .lines()
        .skip_while(|l| !l.starts_with("// Socket.IO on"))
        .skip_while(|l| !l.starts_with("//   "))
        .map_while(|l| l.strip_prefix("//   "))
        .collect();
    assert!(
        code.len() >= 3,
        "no Socket.IO usage in the module:\n{module}"
    );
    code.join("\n")
}

#[test]
fn node_module_counts_real_websockets_and_the_rules_fire_on_them() {
    let run = init_preset_with("twilio-voice", &[]);
    let profile = common::profile_with("twilio-voice", &[]);
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("driver.cjs");
    std::fs::write(&driver, NODE_DRIVER).unwrap();
    let out = run_json(
        Command::new(require_tool("node"))
            .env(
                "NODE_PATH",
                test_package("ws-node/node_modules/ws").parent().unwrap(),
            )
            .arg(&driver)
            .arg(run.path().join("src/metrics.cjs"))
            .arg(&profile.voice.websocket_path)
            .arg(&profile.service.metrics_path)
            .args(counts()),
    );
    check(&run, &out, &CLIENTS, "node + ws");
}

#[test]
fn python_module_counts_real_websockets_and_the_rules_fire_on_them() {
    let sets = ["voice.websocket_path=/media"];
    let run = init_preset_with("fastapi-three-tier", &sets);
    let profile = common::profile_with("fastapi-three-tier", &sets);
    let python = test_package("ws-py/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("driver.py");
    std::fs::write(&driver, PY_DRIVER).unwrap();
    must_pass(
        Command::new(&python).args(["-c", "import uvicorn, websockets"]),
        "uvicorn and websockets",
    );
    let out = run_json(
        Command::new(&python)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(&driver)
            .arg(run.path().join("app/metrics.py"))
            .arg(&profile.voice.websocket_path)
            .arg(&profile.service.metrics_path)
            .args(counts()),
    );
    check(&run, &out, &CLIENTS, "python + uvicorn + websockets");
}

#[test]
fn node_module_socketio_usage_counts_real_sockets_and_the_rules_fire_on_them() {
    let preset = "ringcentral-hold-hunter";
    let run = init_preset_with(preset, &[]);
    let profile = common::profile_with(preset, &[]);
    assert!(profile.voice.websocket_path.ends_with("/socket.io/"));
    let module = run.read("src/metrics.cjs");
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("driver.cjs");
    std::fs::write(&driver, SOCKETIO_DRIVER).unwrap();
    let out = run_json(
        Command::new(require_tool("node"))
            .env(
                "NODE_PATH",
                test_package("ws-node/node_modules/socket.io")
                    .parent()
                    .unwrap(),
            )
            .arg(&driver)
            .arg(run.path().join("src/metrics.cjs"))
            .arg(&profile.voice.websocket_path)
            .arg(&profile.service.metrics_path)
            .arg(socketio_usage(&module)),
    );
    check(&run, &out, &SOCKETIO_CLIENTS, "node + Socket.IO");
}

/// Without a WebSocket path, neither the modules nor the rules mention
/// WebSockets: no alert that can never fire.
#[test]
fn no_websocket_path_no_websocket_alerts() {
    let run = init_preset_with("fastapi-three-tier", &[]);
    for f in [
        "app/metrics.py",
        "monitoring/prometheus/rules/app.yml",
        "monitoring/prometheus/tests/app.test.yml",
        "docs/RUNBOOK.md",
    ] {
        assert!(
            !run.read(f).to_lowercase().contains("websocket_"),
            "{f} mentions WebSocket metrics"
        );
    }
}
