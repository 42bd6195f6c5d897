//! The webhook verification modules shipready writes into the project, run
//! with the real `node` and `python3` against the providers' published
//! example values.
//!
//! Twilio's example (Twilio docs "Validating signatures from Twilio", and
//! the RequestValidator tests of twilio-python
//! tests/unit/test_request_validator.py, twilio-php and twilio-csharp): auth
//! token `12345`, URL https://mycompany.com/myapp.php?foo=1&bar=2, params
//! CallSid=CA1234567890ABCDE, Caller=+14158675309, Digits=1234,
//! From=+14158675309, To=+18005551212 give RSOYDt4T1cUTdK1PDd93/VVr8B8=.
//! From the same twilio-python tests: the port variants (kvajT1Pt... for the
//! URL with :443), the repeated-parameter vector (IK+Dwps5...) and the JSON
//! body vector (bodySHA256=0a1ff763..., signature a9nBmqA0...).

mod common;

use common::{init_preset, init_preset_with, presets, require_tool, run_json};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn assert_all(results: &Value, expected: &[(&str, Value)], what: &str) {
    for (k, v) in expected {
        assert_eq!(&results[*k], v, "{what}: {k} (all results: {results})");
    }
}

const NODE_TWILIO: &str = r#"
const m = require(process.argv[2]);
const http = require('node:http');
const qs = require('node:querystring');
const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
const sig = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';
const r = {};
r.computed = m.computeSignature('12345', url, params);
r.valid = m.validateRequest('12345', sig, url, params);
r.tampered_body = m.validateRequest('12345', sig, url, { ...params, Digits: '9999' });
r.extra_param = m.validateRequest('12345', sig, url, { ...params, Extra: '1' });
r.tampered_url = m.validateRequest('12345', sig, url + '&x=1', params);
r.tampered_host = m.validateRequest('12345', sig, url.replace('mycompany', 'evil'), params);
r.tampered_sig = m.validateRequest('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8X', url, params);
r.short_sig = m.validateRequest('12345', 'abc', url, params);
r.no_sig = m.validateRequest('12345', undefined, url, params);
r.wrong_token = m.validateRequest('54321', sig, url, params);
r.port_removed = m.validateRequest('12345', sig, 'https://mycompany.com:1234/myapp.php?foo=1&bar=2', params);
r.port_added = m.validateRequest('12345', 'kvajT1Ptam85bY51eRf/AJRuM3w=', url, params);
r.duplicate = m.computeSignature('12345', url, { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234'] });
const bodyUrl = url + '&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620';
r.json_body = m.validateRequest('12345', 'a9nBmqA0ju/hNViExpshrM61xv4=', bodyUrl, {}, '{"property": "value", "boolean": true}');
r.json_body_tampered = m.validateRequest('12345', 'a9nBmqA0ju/hNViExpshrM61xv4=', bodyUrl, {}, '{"property": "value", "boolean": false}');
try { m.twilioWebhook({ authToken: '' }); r.missing_token_throws = false; } catch { r.missing_token_throws = true; }

// The middleware behind a real HTTP server, as Express would run it.
const guard = m.twilioWebhook({ authToken: '12345', baseUrl: 'https://mycompany.com' });
const guardByHeaders = m.twilioWebhook({ authToken: '12345', baseUrl: '' });
const server = http.createServer((req, res) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => {
    req.body = qs.parse(data);
    const g = req.headers['x-use-headers'] ? guardByHeaders : guard;
    g(req, res, () => { res.statusCode = 200; res.end('handler ran'); });
  });
});
function post(port, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/myapp.php?foo=1&bar=2', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } }, (res) => {
      let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  // Deliberately not in sorted order.
  const body = 'To=%2B18005551212&Digits=1234&From=%2B14158675309&Caller=%2B14158675309&CallSid=CA1234567890ABCDE';
  r.http_valid = (await post(port, { 'X-Twilio-Signature': sig }, body)).status;
  r.http_valid_by_forwarded_headers = (await post(port, { 'X-Twilio-Signature': sig, 'X-Use-Headers': '1', Host: 'mycompany.com', 'X-Forwarded-Proto': 'https' }, body)).status;
  r.http_plain_http_url = (await post(port, { 'X-Twilio-Signature': sig, 'X-Use-Headers': '1', Host: 'mycompany.com' }, body)).status;
  r.http_tampered_body = (await post(port, { 'X-Twilio-Signature': sig }, body.replace('Digits=1234', 'Digits=9999'))).status;
  r.http_tampered_sig = (await post(port, { 'X-Twilio-Signature': sig.replace('R', 'r') }, body)).status;
  const missing = await post(port, {}, body);
  r.http_no_sig = missing.status;
  r.http_no_sig_handler_ran = missing.body.includes('handler ran');
  server.close();
  console.log(JSON.stringify(r));
});
"#;

const NODE_RINGCENTRAL: &str = r#"
const m = require(process.argv[2]);
const http = require('node:http');
const r = {};
r.handshake = m.classify({ 'validation-token': 'abc-123' }, 'secret').kind;
r.notification = m.classify({ 'verification-token': 'secret' }, 'secret').kind;
r.wrong = m.classify({ 'verification-token': 'secreT' }, 'secret').kind;
r.short = m.classify({ 'verification-token': 's' }, 'secret').kind;
r.missing = m.classify({}, 'secret').kind;
try { m.ringcentralWebhook({ verificationToken: '' }); r.missing_token_throws = false; } catch { r.missing_token_throws = true; }
const guard = m.ringcentralWebhook({ verificationToken: 'vt-8f3a2c' });
const server = http.createServer((req, res) => guard(req, res, () => { res.statusCode = 200; res.end('event handled'); }));
function post(port, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/webhooks/ringcentral', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end('{"event":"/restapi/v1.0/account/~/extension/~/telephony/sessions"}');
  });
}
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const hs = await post(port, { 'Validation-Token': '4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d' });
  r.http_handshake_status = hs.status;
  r.http_handshake_echo = hs.headers['validation-token'] || null;
  r.http_handshake_body = hs.body;
  r.http_handshake_handler_ran = hs.body.includes('event handled');
  r.http_malformed_handshake = (await post(port, { 'Validation-Token': 'a b' })).status;
  const ok = await post(port, { 'Verification-Token': 'vt-8f3a2c' });
  r.http_verified = ok.status;
  r.http_verified_body = ok.body;
  const bad = await post(port, { 'Verification-Token': 'vt-8f3a2d' });
  r.http_wrong_token = bad.status;
  r.http_wrong_token_handler_ran = bad.body.includes('event handled');
  r.http_no_token = (await post(port, {})).status;
  server.close();
  console.log(JSON.stringify(r));
});
"#;

/// A minimal stand-in for the three FastAPI names the modules import, so
/// that their logic runs on the machine's python3 without FastAPI installed.
const FASTAPI_STUB: &str = r#"
class HTTPException(Exception):
    def __init__(self, status_code, detail=None, headers=None):
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


class Request:
    pass


class Response:
    def __init__(self):
        self.headers = {}
"#;

const PY_COMMON: &str = r#"
import asyncio, importlib.util, json, os, sys

def load(path):
    spec = importlib.util.spec_from_file_location("mod", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

class URL:
    def __init__(self, path, query):
        self.path, self.query = path, query

class FakeRequest:
    def __init__(self, headers, path, query, body):
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.url = URL(path, query)
        self._body = body
    async def body(self):
        return self._body

def status_of(coro):
    from fastapi import HTTPException
    try:
        value = asyncio.run(coro)
        return 200, value
    except HTTPException as e:
        return e.status_code, None
"#;

const PY_TWILIO: &str = r#"
m = load(sys.argv[1])
url = "https://mycompany.com/myapp.php?foo=1&bar=2"
params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234", "From": "+14158675309", "To": "+18005551212"}
sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
r = {}
r["computed"] = m.compute_signature("12345", url, params)
r["valid"] = m.validate_request("12345", sig, url, params)
r["tampered_body"] = m.validate_request("12345", sig, url, {**params, "Digits": "9999"})
r["extra_param"] = m.validate_request("12345", sig, url, {**params, "Extra": "1"})
r["tampered_url"] = m.validate_request("12345", sig, url + "&x=1", params)
r["tampered_host"] = m.validate_request("12345", sig, url.replace("mycompany", "evil"), params)
r["tampered_sig"] = m.validate_request("12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8X", url, params)
r["short_sig"] = m.validate_request("12345", "abc", url, params)
r["no_sig"] = m.validate_request("12345", None, url, params)
r["wrong_token"] = m.validate_request("54321", sig, url, params)
r["port_removed"] = m.validate_request("12345", sig, "https://mycompany.com:1234/myapp.php?foo=1&bar=2", params)
r["port_added"] = m.validate_request("12345", "kvajT1Ptam85bY51eRf/AJRuM3w=", url, params)
r["duplicate"] = m.compute_signature("12345", url, [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")])
body_url = url + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
r["json_body"] = m.validate_request("12345", "a9nBmqA0ju/hNViExpshrM61xv4=", body_url, None, b'{"property": "value", "boolean": true}')
r["json_body_tampered"] = m.validate_request("12345", "a9nBmqA0ju/hNViExpshrM61xv4=", body_url, None, b'{"property": "value", "boolean": false}')

form = b"To=%2B18005551212&Digits=1234&From=%2B14158675309&Caller=%2B14158675309&CallSid=CA1234567890ABCDE"
def call(headers, body, base="https://mycompany.com"):
    os.environ["PUBLIC_BASE_URL"] = base
    h = {"content-type": "application/x-www-form-urlencoded", **headers}
    return status_of(m.verify_twilio_signature(FakeRequest(h, "/myapp.php", "foo=1&bar=2", body)))[0]
os.environ["TWILIO_AUTH_TOKEN"] = "12345"
r["dep_valid"] = call({"x-twilio-signature": sig}, form)
r["dep_valid_by_forwarded_headers"] = call({"x-twilio-signature": sig, "host": "mycompany.com", "x-forwarded-proto": "https"}, form, base="")
r["dep_tampered_body"] = call({"x-twilio-signature": sig}, form.replace(b"Digits=1234", b"Digits=9999"))
r["dep_tampered_sig"] = call({"x-twilio-signature": sig.lower()}, form)
r["dep_no_sig"] = call({}, form)
os.environ["TWILIO_AUTH_TOKEN"] = ""
r["dep_no_token"] = call({"x-twilio-signature": sig}, form)
print(json.dumps(r))
"#;

const PY_RINGCENTRAL: &str = r#"
m = load(sys.argv[1])
from fastapi import Response
r = {}
r["handshake"] = m.classify({"Validation-Token": "abc-123"}, "secret")[0]
r["notification"] = m.classify({"Verification-Token": "secret"}, "secret")[0]
r["wrong"] = m.classify({"Verification-Token": "secreT"}, "secret")[0]
r["missing"] = m.classify({}, "secret")[0]
os.environ["RINGCENTRAL_VERIFICATION_TOKEN"] = "vt-8f3a2c"
def call(headers):
    resp = Response()
    req = FakeRequest(headers, "/webhooks/ringcentral", "", b'{"event": "/restapi/v1.0/account/~/extension/~/telephony/sessions"}')
    status, value = status_of(m.ringcentral_notification(req, resp))
    return status, value, resp.headers
s, v, h = call({"Validation-Token": "4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d"})
r["dep_handshake_status"], r["dep_handshake_value"], r["dep_handshake_echo"] = s, v, h.get("Validation-Token")
r["dep_malformed_handshake"] = call({"Validation-Token": "a b"})[0]
s, v, _ = call({"Verification-Token": "vt-8f3a2c"})
r["dep_verified"], r["dep_verified_event"] = s, v
r["dep_wrong_token"] = call({"Verification-Token": "vt-8f3a2d"})[0]
r["dep_no_token"] = call({})[0]
print(json.dumps(r))
"#;

fn twilio_expectations(prefix: &str) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = vec![
        ("computed".into(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=".into()),
        ("valid".into(), true.into()),
        ("tampered_body".into(), false.into()),
        ("extra_param".into(), false.into()),
        ("tampered_url".into(), false.into()),
        ("tampered_host".into(), false.into()),
        ("tampered_sig".into(), false.into()),
        ("short_sig".into(), false.into()),
        ("no_sig".into(), false.into()),
        ("wrong_token".into(), false.into()),
        ("port_removed".into(), true.into()),
        ("port_added".into(), true.into()),
        ("duplicate".into(), "IK+Dwps556ElfBT0I3Rgjkr1wJU=".into()),
        ("json_body".into(), true.into()),
        ("json_body_tampered".into(), false.into()),
    ];
    let p = |k: &str| format!("{prefix}_{k}");
    v.push((p("valid"), 200.into()));
    v.push((p("valid_by_forwarded_headers"), 200.into()));
    v.push((p("tampered_body"), 403.into()));
    v.push((p("tampered_sig"), 403.into()));
    v.push((p("no_sig"), 403.into()));
    v
}

fn check(results: &Value, expected: &[(String, Value)], what: &str) {
    let e: Vec<(&str, Value)> = expected
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    assert_all(results, &e, what);
}

fn node_check(module: &Path, script: &str) -> Value {
    let node = require_tool("node");
    let dir = tempfile::tempdir().unwrap();
    let test = dir.path().join("check.cjs");
    std::fs::write(&test, script).unwrap();
    run_json(Command::new(node).arg(&test).arg(module))
}

fn python_check(module: &Path, script: &str) -> Value {
    let python = require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fastapi")).unwrap();
    std::fs::write(dir.path().join("fastapi/__init__.py"), FASTAPI_STUB).unwrap();
    let test = dir.path().join("check.py");
    std::fs::write(&test, format!("{PY_COMMON}\n{script}")).unwrap();
    run_json(
        Command::new(python)
            .arg(&test)
            .arg(module)
            .env("PYTHONPATH", dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )
}

fn check_twilio_node(module: &Path, what: &str) {
    let r = node_check(module, NODE_TWILIO);
    check(&r, &twilio_expectations("http"), what);
    assert_eq!(
        r["http_plain_http_url"], 403,
        "{what}: an http:// URL is not the one Twilio signed"
    );
    assert_eq!(r["http_no_sig_handler_ran"], false, "{what}");
    assert_eq!(r["missing_token_throws"], true, "{what}");
}

fn check_ringcentral_node(module: &Path, what: &str) {
    let r = node_check(module, NODE_RINGCENTRAL);
    assert_all(
        &r,
        &[
            ("handshake", "handshake".into()),
            ("notification", "notification".into()),
            ("wrong", "rejected".into()),
            ("short", "rejected".into()),
            ("missing", "rejected".into()),
            ("missing_token_throws", true.into()),
            ("http_handshake_status", 200.into()),
            (
                "http_handshake_echo",
                "4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d".into(),
            ),
            ("http_handshake_body", "".into()),
            ("http_handshake_handler_ran", false.into()),
            ("http_malformed_handshake", 400.into()),
            ("http_verified", 200.into()),
            ("http_verified_body", "event handled".into()),
            ("http_wrong_token", 401.into()),
            ("http_wrong_token_handler_ran", false.into()),
            ("http_no_token", 401.into()),
        ],
        what,
    );
}

#[test]
fn every_preset_gets_the_verification_module_of_its_provider_and_runtime() {
    let mut checked = 0;
    for preset in presets() {
        let run = init_preset(&preset);
        let lock = run.read("shipready.toml");
        let files = run.files();
        let has = |p: &str| files.iter().any(|f| f == p);
        let twilio = lock.contains("provider = \"twilio\"");
        let ringcentral = lock.contains("provider = \"ringcentral\"");
        let node = lock.contains("runtime = \"node\"");
        assert_eq!(
            has("src/webhooks/twilio-signature.cjs"),
            twilio && node,
            "{preset}"
        );
        assert_eq!(
            has("app/webhooks/twilio_signature.py"),
            twilio && !node,
            "{preset}"
        );
        assert_eq!(
            has("src/webhooks/ringcentral-webhook.cjs"),
            ringcentral && node,
            "{preset}"
        );
        assert_eq!(
            has("app/webhooks/ringcentral_webhook.py"),
            ringcentral && !node,
            "{preset}"
        );
        if has("src/webhooks/twilio-signature.cjs") {
            check_twilio_node(
                &run.path().join("src/webhooks/twilio-signature.cjs"),
                &preset,
            );
            checked += 1;
        }
        if has("src/webhooks/ringcentral-webhook.cjs") {
            check_ringcentral_node(
                &run.path().join("src/webhooks/ringcentral-webhook.cjs"),
                &preset,
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "twilio-voice, prisma-voice and ringcentral-hold-hunter carry modules"
    );
}

#[test]
fn twilio_fastapi_dependency_matches_twilios_examples() {
    let run = init_preset_with("fastapi-three-tier", &["voice.provider=twilio"]);
    let r = python_check(
        &run.path().join("app/webhooks/twilio_signature.py"),
        PY_TWILIO,
    );
    check(&r, &twilio_expectations("dep"), "fastapi twilio");
    assert_eq!(
        r["dep_no_token"], 500,
        "no auth token must refuse, not accept"
    );
}

#[test]
fn ringcentral_fastapi_dependency_answers_the_handshake_and_checks_the_token() {
    let run = init_preset_with("fastapi-three-tier", &["voice.provider=ringcentral"]);
    let r = python_check(
        &run.path().join("app/webhooks/ringcentral_webhook.py"),
        PY_RINGCENTRAL,
    );
    assert_all(
        &r,
        &[
            ("handshake", "handshake".into()),
            ("notification", "notification".into()),
            ("wrong", "rejected".into()),
            ("missing", "rejected".into()),
            ("dep_handshake_status", 200.into()),
            ("dep_handshake_value", Value::Null),
            (
                "dep_handshake_echo",
                "4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d".into(),
            ),
            ("dep_malformed_handshake", 400.into()),
            ("dep_verified", 200.into()),
            ("dep_wrong_token", 401.into()),
            ("dep_no_token", 401.into()),
        ],
        "fastapi ringcentral",
    );
    assert_eq!(
        r["dep_verified_event"]["event"],
        "/restapi/v1.0/account/~/extension/~/telephony/sessions"
    );
}

#[test]
fn comparisons_are_constant_time() {
    // Behaviour cannot show timing; check each module compares secrets only
    // through the constant-time primitive of its runtime.
    let run = init_preset("twilio-voice");
    let js = run.read("src/webhooks/twilio-signature.cjs");
    assert!(js.contains("crypto.timingSafeEqual"));
    assert!(!js.contains("=== signature") && !js.contains("== signature"));
    let run = init_preset_with("fastapi-three-tier", &["voice.provider=ringcentral"]);
    let py = run.read("app/webhooks/ringcentral_webhook.py");
    assert!(py.contains("hmac.compare_digest"));
    assert!(!py.contains("== verification_token"));
}
