//! The metrics modules shipready writes into the project (`src/metrics.cjs`,
//! `app/metrics.py`), run for real with the machine's `node` and `python3`:
//! requests go through the middleware (a node:http server routing as Express
//! does; a plain ASGI app routing as FastAPI does), the metrics path is
//! scraped, and then
//! (a) `promtool check metrics` accepts the scrape;
//! (b) it holds the series the alert rules query, labelled by route template
//!     and numeric status, with buckets at the profile's latency thresholds;
//! (c) the scraped counts, replayed every minute into a `promtool test rules`
//!     run of the generated rules/app.yml, give the 5xx ratio the requests
//!     had and fire AppHighErrorRatio, the latency alerts (one request was
//!     slower than the p99 threshold) and, on the voice preset,
//!     VoiceWebhookRejected, while AppMetricsMissing stays quiet.

use crate::common;
use common::promtool;

use std::collections::BTreeMap;
use std::process::Command;

use common::{
    init_preset, init_preset_with, must_pass, presets, profile_of, require_tool, run_json, Run,
};
use shipready::profile::Profile;

/// How long the slow route takes: more than every preset's p99 threshold.
const SLOW_MS: u32 = 1600;

/// Routes requests the way Express 4 and 5 do (req.baseUrl, then req.route
/// set on a match; nothing on a 404; req.baseUrl reset when an error leaves
/// the router), behind the generated middleware.
const NODE_DRIVER: &str = r#"
const metrics = require(process.argv[2]);
const [webhookPath, metricsPath, slowMs] = [process.argv[3], process.argv[4], Number(process.argv[5])];
const http = require('node:http');
const answer = (status) => (req, res) => { res.statusCode = status; res.end(String(status)); };
const routes = [
  { method: 'GET', base: '/api', path: '/items/:id', re: /^\/api\/items\/[^/]+$/, handle: answer(200) },
  // next(err): Express leaves the router, resetting req.baseUrl, then answers 500.
  { method: 'GET', base: '/api', path: '/fail', re: /^\/api\/fail$/, handle: (req, res) => { req.baseUrl = ''; answer(500)(req, res); } },
  { method: 'GET', base: '/api', path: '/slow', re: /^\/api\/slow$/, handle: (req, res) => setTimeout(() => answer(200)(req, res), slowMs) },
  { method: 'POST', base: '', path: webhookPath, re: new RegExp('^' + webhookPath + '$'), handle: answer(403) },
  { method: 'GET', base: '', path: metricsPath, re: new RegExp('^' + metricsPath + '$'), handle: metrics.handler },
];
const server = http.createServer((req, res) => {
  req.originalUrl = req.url;
  metrics.middleware(req, res, () => {
    const url = req.url.split('?')[0];
    const route = routes.find((r) => r.method === req.method && r.re.test(url));
    if (!route) { answer(404)(req, res); return; }
    req.baseUrl = route.base;
    req.route = { path: route.path };
    route.handle(req, res);
  });
});
function request(port, method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = ''; res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const r = { statuses: [] };
  for (const [method, path] of [['GET', '/api/items/42'], ['GET', '/api/items/43?x=1'], ['GET', '/api/fail'],
                                ['GET', '/no/such/page'], ['POST', webhookPath], ['GET', '/api/slow']]) {
    r.statuses.push((await request(port, method, path)).status);
  }
  const scrape = await request(port, 'GET', metricsPath);
  r.scrape_status = scrape.status;
  r.content_type = scrape.type;
  r.scrape = scrape.body;
  metrics.observe('/a"b\\c\nd', '200', 0.001);
  r.escaped = metrics.render();
  server.close();
  console.log(JSON.stringify(r));
});
"#;

/// A router that does what FastAPI's does: on a match, the APIRoute goes
/// into the request's own scope (`scope["route"]`), or for a plain
/// Starlette route (`app.add_route`) only its endpoint; an unhandled
/// exception becomes a 500 in the outermost middleware, as Starlette's
/// ServerErrorMiddleware does. Driven with the ASGI protocol directly.
const PY_DRIVER: &str = r#"
import asyncio, importlib.util, json, re, sys

spec = importlib.util.spec_from_file_location("metrics", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
webhook_path, metrics_path, slow_ms = sys.argv[2], sys.argv[3], int(sys.argv[4])

async def respond(send, status, body=b""):
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})

def answer(status):
    async def endpoint(scope, receive, send):
        await respond(send, status, str(status).encode())
    return endpoint

async def fail(scope, receive, send):
    raise RuntimeError("boom")

async def slow(scope, receive, send):
    await asyncio.sleep(slow_ms / 1000)
    await respond(send, 200)

class APIRoute:
    def __init__(self, method, path, pattern, endpoint, fastapi=True):
        self.method, self.path, self.pattern, self.endpoint, self.fastapi = method, path, re.compile(pattern), endpoint, fastapi

class Router:
    routes = [
        APIRoute("GET", "/api/items/{item_id}", r"^/api/items/[^/]+$", answer(200)),
        APIRoute("GET", "/api/fail", r"^/api/fail$", fail),
        APIRoute("GET", "/api/slow", r"^/api/slow$", slow),
        APIRoute("GET", "/api/plain", r"^/api/plain$", answer(200), fastapi=False),
        APIRoute("POST", webhook_path, "^" + re.escape(webhook_path) + "$", answer(403)),
        APIRoute("GET", metrics_path, "^" + re.escape(metrics_path) + "$", m.metrics_endpoint, fastapi=False),
    ]
    async def __call__(self, scope, receive, send):
        for route in self.routes:
            if route.method == scope["method"] and route.pattern.match(scope["path"]):
                child = {"endpoint": route.endpoint, "path_params": {}}
                if route.fastapi:
                    child["route"] = route
                scope.update(child)
                await route.endpoint(scope, receive, send)
                return
        await respond(send, 404)

ROUTER = Router()

class ServerErrors:
    def __init__(self, app):
        self.app = app
    async def __call__(self, scope, receive, send):
        scope["app"] = ROUTER
        started = False
        async def tracking(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, receive, tracking)
        except Exception:
            if not started:
                await respond(send, 500)

APP = ServerErrors(m.PrometheusMiddleware(ROUTER))

async def call(method, path):
    raw, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": raw, "raw_path": raw.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(b"host", b"app")], "client": ("127.0.0.1", 5000), "server": ("app", 8000)}
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    await APP(scope, receive, send)
    start = next(x for x in sent if x["type"] == "http.response.start")
    body = b"".join(x.get("body", b"") for x in sent if x["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body.decode()

async def main():
    r = {"statuses": []}
    for method, path in [("GET", "/api/items/42"), ("GET", "/api/items/43?x=1"), ("GET", "/api/fail"),
                         ("GET", "/no/such/page"), ("POST", webhook_path), ("GET", "/api/slow"), ("GET", "/api/plain")]:
        r["statuses"].append((await call(method, path))[0])
    status, headers, body = await call("GET", metrics_path)
    r["scrape_status"], r["content_type"], r["scrape"] = status, headers[b"content-type"].decode(), body
    # WebSocket and lifespan scopes pass through untouched and uncounted.
    seen = []
    async def inner(scope, receive, send):
        seen.append(scope["type"])
    for kind in ("websocket", "lifespan"):
        await m.PrometheusMiddleware(inner)({"type": kind, "path": "/ws"}, None, None)
    r["passed_through"] = seen
    r["after_passthrough"] = m.render() == body
    m.observe('/a"b\\c\nd', "200", 0.001)
    r["escaped"] = m.render()
    print(json.dumps(r))

asyncio.run(main())
"#;

type Labels = BTreeMap<String, String>;

/// The samples of a text exposition: (name, labels, value); label values
/// unescaped.
fn samples(text: &str) -> Vec<(String, Labels, f64)> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut labels = Labels::new();
        let mut chars = rest.strip_suffix('}').expect("closing brace").chars();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if key.is_empty() {
                break;
            }
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(e) => v.push(e),
                        None => panic!("{line}"),
                    },
                    c => v.push(c),
                }
            }
            labels.insert(key.trim_start_matches(',').to_string(), v);
        }
        out.push((name.to_string(), labels, value));
    }
    out
}

fn le_value(le: &str) -> f64 {
    if le == "+Inf" {
        f64::INFINITY
    } else {
        le.parse().unwrap()
    }
}

/// What the requests of a driver were, and what the scrape must show.
struct Expect<'a> {
    /// (route label, status label, count)
    requests: &'a [(&'a str, &'a str, f64)],
    slow_route: &'a str,
}

/// (b) The series the rules query, with route templates, numeric statuses
/// and buckets at the thresholds.
fn check_series(scrape: &str, profile: &Profile, expect: &Expect, what: &str) {
    for family in [
        "http_requests_total counter",
        "http_request_duration_seconds histogram",
    ] {
        let name = family.split(' ').next().unwrap();
        assert!(
            scrape.contains(&format!("# TYPE {family}\n"))
                && scrape.contains(&format!("# HELP {name} ")),
            "{what}: no HELP/TYPE for {family}:\n{scrape}"
        );
    }
    let all = samples(scrape);
    let counter: BTreeMap<(String, String), f64> = all
        .iter()
        .filter(|(n, ..)| n == "http_requests_total")
        .map(|(_, l, v)| {
            assert_eq!(
                l.keys().collect::<Vec<_>>(),
                ["route", "status"],
                "{what}: labels of http_requests_total"
            );
            ((l["route"].clone(), l["status"].clone()), *v)
        })
        .collect();
    let want: BTreeMap<(String, String), f64> = expect
        .requests
        .iter()
        .map(|(r, s, n)| ((r.to_string(), s.to_string()), *n))
        .collect();
    assert_eq!(counter, want, "{what}: http_requests_total\n{scrape}");
    assert!(
        !scrape.contains("/42") && !scrape.contains("/no/such") && !scrape.contains("x=1"),
        "{what}: a raw URL leaked into a label:\n{scrape}"
    );
    assert!(
        !counter
            .keys()
            .any(|(r, _)| r == &profile.service.metrics_path),
        "{what}: the scrape itself is counted"
    );

    let p95 = f64::from(profile.alerts.latency_p95_ms) / 1000.0;
    let p99 = f64::from(profile.alerts.latency_p99_ms) / 1000.0;
    let routes: Vec<&String> = counter.keys().map(|(r, _)| r).collect();
    for route in routes {
        let buckets: Vec<(f64, f64)> = all
            .iter()
            .filter(|(n, l, _)| n == "http_request_duration_seconds_bucket" && &l["route"] == route)
            .map(|(_, l, v)| {
                assert_eq!(l.keys().collect::<Vec<_>>(), ["le", "route"], "{what}");
                (le_value(&l["le"]), *v)
            })
            .collect();
        let les: Vec<f64> = buckets.iter().map(|b| b.0).collect();
        assert!(
            les.windows(2).all(|w| w[0] < w[1]) && les.last() == Some(&f64::INFINITY),
            "{what} {route}: bucket bounds {les:?} are not increasing up to +Inf"
        );
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{what} {route}: buckets are not cumulative: {buckets:?}"
        );
        for t in [p95, p99] {
            assert!(
                les.contains(&t),
                "{what}: no bucket at threshold {t} s in {les:?}"
            );
        }
        assert!(les[0] < p95, "{what}: no bucket below p95 {p95} in {les:?}");
        assert!(
            les.iter().any(|le| le.is_finite() && *le > p99),
            "{what}: no finite bucket above p99 {p99} in {les:?}"
        );
        let get = |suffix: &str| {
            all.iter()
                .find(|(n, l, _)| {
                    n == &format!("http_request_duration_seconds_{suffix}") && &l["route"] == route
                })
                .map(|s| s.2)
                .unwrap_or_else(|| panic!("{what}: no _{suffix} for {route}"))
        };
        let total: f64 = counter
            .iter()
            .filter(|((r, _), _)| r == route)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(get("count"), total, "{what} {route}: _count");
        assert_eq!(
            buckets.last().unwrap().1,
            total,
            "{what} {route}: +Inf bucket"
        );
        let sum = get("sum");
        let at_p99 = buckets.iter().find(|b| b.0 == p99).unwrap().1;
        if route == expect.slow_route {
            assert!(
                sum >= f64::from(SLOW_MS) / 1000.0,
                "{what}: slow route sum {sum}"
            );
            assert_eq!(at_p99, 0.0, "{what}: the slow request is counted under p99");
        } else {
            assert!(
                sum < p95 * total,
                "{what} {route}: sum {sum} for fast requests"
            );
            assert_eq!(at_p99, total, "{what} {route}");
        }
    }
}

/// (c) The scrape, replayed as the increase of every minute, through the
/// generated rules with promtool.
fn replay_through_the_rules(run: &Run, scrape: &str, profile: &Profile, voice: bool, what: &str) {
    let inst = format!("app:{}", profile.service.port);
    let mut series = vec![format!(
        "      - series: 'up{{job=\"app\", instance=\"{inst}\"}}'\n        values: \"1x45\"\n"
    )];
    let (mut errors, mut total) = (0.0, 0.0);
    for (name, labels, value) in samples(scrape) {
        if name != "http_requests_total" && name != "http_request_duration_seconds_bucket" {
            continue;
        }
        if name == "http_requests_total" {
            total += value;
            if labels["status"].starts_with('5') {
                errors += value;
            }
        }
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        series.push(format!(
            "      - series: '{name}{{job=\"app\", instance=\"{inst}\", {}}}'\n        values: \"0+{value}x45\"\n",
            labels.join(", ")
        ));
    }
    let ratio = errors / total;
    assert!(
        ratio > profile.alerts.error_ratio,
        "{what}: the requests must exceed the error ratio"
    );
    let firing = |alert: &str, severity: &str| {
        format!(
            "      - expr: ALERTS{{alertname=\"{alert}\", alertstate=\"firing\"}}\n        eval_time: 45m\n        exp_samples:\n          - labels: 'ALERTS{{alertname=\"{alert}\", alertstate=\"firing\", severity=\"{severity}\"}}'\n            value: 1\n"
        )
    };
    let mut tests = format!(
        "      - expr: abs(sum(rate(http_requests_total{{job=\"app\", status=~\"5..\"}}[5m])) / sum(rate(http_requests_total{{job=\"app\"}}[5m])) - {ratio:.12}) < bool 1e-9\n        eval_time: 30m\n        exp_samples:\n          - labels: '{{}}'\n            value: 1\n"
    );
    tests.push_str(&firing("AppHighErrorRatio", "critical"));
    tests.push_str(&firing("AppHighLatencyP95", "warning"));
    tests.push_str(&firing("AppHighLatencyP99", "critical"));
    if voice {
        tests.push_str(&firing("VoiceWebhookRejected", "warning"));
    }
    for quiet in ["AppMetricsMissing", "AppTargetDown", "VoiceWebhookErrors"] {
        tests.push_str(&format!(
            "      - expr: ALERTS{{alertname=\"{quiet}\"}}\n        eval_time: 45m\n        exp_samples: []\n"
        ));
    }
    let file = format!(
        "rule_files:\n  - ../rules/app.yml\n\nevaluation_interval: 1m\n\ntests:\n  - name: scraped traffic, every minute\n    interval: 1m\n    input_series:\n{}    promql_expr_test:\n{tests}",
        series.concat()
    );
    let rel = "monitoring/prometheus/tests/scraped.test.yml";
    promtool::test_rules(run, rel, &file, what);
}

const ESCAPED_LINE: &str = r#"http_requests_total{route="/a\"b\\c\nd",status="200"} 1"#;

#[test]
fn node_module_exposes_what_the_rules_read() {
    let preset = "twilio-voice";
    let run = init_preset(preset);
    let profile = profile_of(preset);
    let module = run.path().join("src/metrics.cjs");
    must_pass(
        Command::new(require_tool("node"))
            .arg("--check")
            .arg(&module),
    );
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("driver.cjs");
    std::fs::write(&driver, NODE_DRIVER).unwrap();
    let r = run_json(
        Command::new(require_tool("node"))
            .arg(&driver)
            .arg(&module)
            .arg(&profile.voice.webhook_path)
            .arg(&profile.service.metrics_path)
            .arg(SLOW_MS.to_string()),
    );
    assert_eq!(
        r["statuses"],
        serde_json::json!([200, 200, 500, 404, 403, 200])
    );
    assert_eq!(r["scrape_status"], 200);
    assert_eq!(
        r["content_type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let scrape = r["scrape"].as_str().unwrap();
    promtool::check_metrics(scrape, "node");
    let webhook = profile.voice.webhook_path.as_str();
    let expect = Expect {
        requests: &[
            ("/api/items/:id", "200", 2.0),
            ("/api/fail", "500", 1.0),
            ("unmatched", "404", 1.0),
            (webhook, "403", 1.0),
            ("/api/slow", "200", 1.0),
        ],
        slow_route: "/api/slow",
    };
    check_series(scrape, &profile, &expect, "node");
    replay_through_the_rules(&run, scrape, &profile, true, "node");
    let escaped = r["escaped"].as_str().unwrap();
    assert!(escaped.contains(ESCAPED_LINE), "node escaping:\n{escaped}");
    promtool::check_metrics(escaped, "node, escaped label");
}

#[test]
fn fastapi_module_exposes_what_the_rules_read() {
    let preset = "fastapi-three-tier";
    let run = init_preset(preset);
    let profile = profile_of(preset);
    let module = run.path().join("app/metrics.py");
    let python = require_tool("python3");
    let cache = tempfile::tempdir().unwrap();
    must_pass(
        Command::new(&python)
            .env("PYTHONPYCACHEPREFIX", cache.path())
            .args(["-m", "py_compile"])
            .arg(&module),
    );
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("driver.py");
    std::fs::write(&driver, PY_DRIVER).unwrap();
    let r = run_json(
        Command::new(&python)
            .arg(&driver)
            .arg(&module)
            .arg(&profile.voice.webhook_path)
            .arg(&profile.service.metrics_path)
            .arg(SLOW_MS.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    assert_eq!(
        r["statuses"],
        serde_json::json!([200, 200, 500, 404, 403, 200, 200])
    );
    assert_eq!(r["scrape_status"], 200);
    assert_eq!(
        r["content_type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        r["passed_through"],
        serde_json::json!(["websocket", "lifespan"])
    );
    assert_eq!(r["after_passthrough"], true, "a pass-through was counted");
    let scrape = r["scrape"].as_str().unwrap();
    promtool::check_metrics(scrape, "fastapi");
    let webhook = profile.voice.webhook_path.as_str();
    let expect = Expect {
        requests: &[
            ("/api/items/{item_id}", "200", 2.0),
            ("/api/fail", "500", 1.0),
            ("unmatched", "404", 1.0),
            (webhook, "403", 1.0),
            ("/api/slow", "200", 1.0),
            ("/api/plain", "200", 1.0),
        ],
        slow_route: "/api/slow",
    };
    check_series(scrape, &profile, &expect, "fastapi");
    replay_through_the_rules(&run, scrape, &profile, false, "fastapi");
    let escaped = r["escaped"].as_str().unwrap();
    assert!(
        escaped.contains(ESCAPED_LINE),
        "python escaping:\n{escaped}"
    );
    promtool::check_metrics(escaped, "fastapi, escaped label");
}

#[test]
fn every_preset_gets_the_module_of_its_runtime_and_it_compiles() {
    let cache = tempfile::tempdir().unwrap();
    for preset in presets() {
        let run = init_preset(&preset);
        let files = run.files();
        let has = |p: &str| files.iter().any(|f| f == p);
        let node = run.read("shipready.toml").contains("runtime = \"node\"");
        assert_eq!(has("src/metrics.cjs"), node, "{preset}");
        assert_eq!(has("app/metrics.py"), !node, "{preset}");
        let rules = run.read("monitoring/prometheus/rules/app.yml");
        if node {
            must_pass(
                Command::new(require_tool("node"))
                    .arg("--check")
                    .arg(run.path().join("src/metrics.cjs")),
            );
            assert!(
                rules.contains("src/metrics.cjs"),
                "{preset}: rules name the module"
            );
        } else {
            must_pass(
                Command::new(require_tool("python3"))
                    .env("PYTHONPYCACHEPREFIX", cache.path())
                    .args(["-m", "py_compile"])
                    .arg(run.path().join("app/metrics.py")),
            );
            assert!(
                rules.contains("app/metrics.py"),
                "{preset}: rules name the module"
            );
        }
        assert!(
            !rules.contains("both can"),
            "{preset}: the old claim about the libraries is back"
        );
    }
}

/// Buckets follow [alerts], including thresholds past the fixed list.
#[test]
fn buckets_follow_the_thresholds() {
    let bounds = |text: &str, open: &str, close: char| -> Vec<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(open))
            .expect("BUCKETS line");
        let inner = line[open.len()..].split(close).next().unwrap();
        inner
            .split(',')
            .map(|x| x.trim().parse().unwrap())
            .collect()
    };
    for (preset, path, open, close) in [
        ("twilio-voice", "src/metrics.cjs", "const BUCKETS = [", ']'),
        ("fastapi-three-tier", "app/metrics.py", "BUCKETS = (", ')'),
    ] {
        let run = init_preset_with(
            preset,
            &["alerts.latency_p95_ms=120", "alerts.latency_p99_ms=20000"],
        );
        let b = bounds(&run.read(path), open, close);
        assert!(
            b.windows(2).all(|w| w[0] < w[1]),
            "{preset}: {b:?} not increasing"
        );
        for want in [0.06, 0.12, 20.0, 40.0, 0.005, 10.0] {
            assert!(b.contains(&want), "{preset}: {want} missing from {b:?}");
        }
        let run = init_preset(preset);
        let b = bounds(&run.read(path), open, close);
        let p = profile_of(preset);
        for t in [p.alerts.latency_p95_ms, p.alerts.latency_p99_ms] {
            assert!(
                b.contains(&(f64::from(t) / 1000.0)),
                "{preset}: {t} ms not a bound of {b:?}"
            );
        }
    }
}
