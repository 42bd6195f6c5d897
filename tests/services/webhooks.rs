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

use crate::common;

use common::hooks::node_usage;
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
r.handshake = m.classify({ 'validation-token': 'abc-123' }, 'secret', false).kind;
r.notification = m.classify({ 'verification-token': 'secret' }, 'secret', true).kind;
// RingCentral's current guide sends the subscription's token as Validation-Token on every notification.
r.validation_token_notification = m.classify({ 'validation-token': 'secret' }, 'secret', true).kind;
r.both_headers_notification = m.classify({ 'validation-token': 'abc-123', 'verification-token': 'secret' }, 'secret', true).kind;
r.validation_token_wrong_with_body = m.classify({ 'validation-token': 'abc-123' }, 'secret', true).kind;
r.handshake_with_wrong_verification = m.classify({ 'validation-token': 'abc-123', 'verification-token': 'nope' }, 'secret', false).kind;
r.wrong = m.classify({ 'verification-token': 'secreT' }, 'secret', true).kind;
r.short = m.classify({ 'verification-token': 's' }, 'secret', true).kind;
r.missing = m.classify({}, 'secret', true).kind;
try { m.ringcentralWebhook({ verificationToken: '' }); r.missing_token_throws = false; } catch { r.missing_token_throws = true; }
const guard = m.ringcentralWebhook({ verificationToken: 'vt-8f3a2c' });
const server = http.createServer((req, res) => guard(req, res, () => { res.statusCode = 200; res.end('event handled'); }));
const EVENT = '{"event":"/restapi/v1.0/account/~/extension/~/telephony/sessions"}';
function post(port, headers, body = EVENT) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/webhooks/ringcentral', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers } }, (res) => {
      let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const hs = await post(port, { 'Validation-Token': '4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d' }, '');
  r.http_handshake_status = hs.status;
  r.http_handshake_echo = hs.headers['validation-token'] || null;
  r.http_handshake_body = hs.body;
  r.http_handshake_handler_ran = hs.body.includes('event handled');
  r.http_malformed_handshake = (await post(port, { 'Validation-Token': 'a b' }, '')).status;
  const viaValidation = await post(port, { 'Validation-Token': 'vt-8f3a2c' });
  r.http_notification_by_validation_token = viaValidation.status;
  r.http_notification_by_validation_token_ran = viaValidation.body.includes('event handled');
  r.http_foreign_validation_token_with_body = (await post(port, { 'Validation-Token': '4f0b1c2d-9e8a' })).status;
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
        self.scope = {"raw_path": path.encode("ascii")}
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
r["handshake"] = m.classify({"Validation-Token": "abc-123"}, "secret", False)[0]
r["notification"] = m.classify({"Verification-Token": "secret"}, "secret", True)[0]
r["validation_token_notification"] = m.classify({"Validation-Token": "secret"}, "secret", True)[0]
r["validation_token_wrong_with_body"] = m.classify({"Validation-Token": "abc-123"}, "secret", True)[0]
r["wrong"] = m.classify({"Verification-Token": "secreT"}, "secret", True)[0]
r["missing"] = m.classify({}, "secret", True)[0]
os.environ["RINGCENTRAL_VERIFICATION_TOKEN"] = "vt-8f3a2c"
EVENT = b'{"event": "/restapi/v1.0/account/~/extension/~/telephony/sessions"}'
def call(headers, body=EVENT):
    resp = Response()
    req = FakeRequest(headers, "/webhooks/ringcentral", "", body)
    status, value = status_of(m.ringcentral_notification(req, resp))
    return status, value, resp.headers
s, v, h = call({"Validation-Token": "4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d"}, b"")
r["dep_handshake_status"], r["dep_handshake_value"], r["dep_handshake_echo"] = s, v, h.get("Validation-Token")
r["dep_malformed_handshake"] = call({"Validation-Token": "a b"}, b"")[0]
s, v, _ = call({"Validation-Token": "vt-8f3a2c"})
r["dep_notification_by_validation_token"], r["dep_notification_by_validation_token_event"] = s, v
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
            ("validation_token_notification", "notification".into()),
            ("both_headers_notification", "notification".into()),
            ("validation_token_wrong_with_body", "rejected".into()),
            ("handshake_with_wrong_verification", "rejected".into()),
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
            ("http_notification_by_validation_token", 200.into()),
            ("http_notification_by_validation_token_ran", true.into()),
            ("http_foreign_validation_token_with_body", 401.into()),
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
            ("validation_token_notification", "notification".into()),
            ("validation_token_wrong_with_body", "rejected".into()),
            ("wrong", "rejected".into()),
            ("missing", "rejected".into()),
            ("dep_handshake_status", 200.into()),
            ("dep_handshake_value", Value::Null),
            (
                "dep_handshake_echo",
                "4f0b1c2d-9e8a-4b7c-a1d2-3e4f5a6b7c8d".into(),
            ),
            ("dep_malformed_handshake", 400.into()),
            ("dep_notification_by_validation_token", 200.into()),
            ("dep_verified", 200.into()),
            ("dep_wrong_token", 401.into()),
            ("dep_no_token", 401.into()),
        ],
        "fastapi ringcentral",
    );
    for key in [
        "dep_verified_event",
        "dep_notification_by_validation_token_event",
    ] {
        assert_eq!(
            r[key]["event"], "/restapi/v1.0/account/~/extension/~/telephony/sessions",
            "{key}: {r}"
        );
    }
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

// ---------------------------------------------------------------------------
// The proof end to end: requests signed by Twilio's official SDKs (npm
// `twilio` and PyPI `twilio`, pinned in scripts/install-test-deps.sh) go
// through the project's generated nginx into a real Express app and a real
// FastAPI app wired exactly as the generated modules' usage docs say.

/// Signs each case with twilio-node: getExpectedBodyHash for JSON bodies
/// (the URL gains ?bodySHA256=), getExpectedTwilioSignature for the URL and
/// form parameters; and checks its own result with the SDK's validators.
const NODE_SIGNER: &str = r#"
const twilio = require('twilio');
const { token, cases } = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const out = cases.map((c) => {
  if (c.json !== undefined) {
    const url = c.url + (c.url.includes('?') ? '&' : '?') + 'bodySHA256=' + twilio.getExpectedBodyHash(c.json);
    const signature = twilio.getExpectedTwilioSignature(token, url, {});
    if (!twilio.validateRequestWithBody(token, signature, url, c.json)) throw new Error('SDK rejects its own ' + url);
    return { url, signature };
  }
  const signature = twilio.getExpectedTwilioSignature(token, c.url, c.form);
  if (!twilio.validateRequest(token, signature, c.url, c.form)) throw new Error('SDK rejects its own ' + c.url);
  return { url: c.url, signature };
});
console.log(JSON.stringify(out));
"#;

/// The same with twilio-python's RequestValidator.
const PY_SIGNER: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator
spec = json.load(open(sys.argv[1]))
v = RequestValidator(spec["token"])
out = []
for c in spec["cases"]:
    if "json" in c:
        url = c["url"] + ("&" if "?" in c["url"] else "?") + "bodySHA256=" + v.compute_hash(c["json"])
        sig = v.compute_signature(url, {})
        assert v.validate(url, c["json"], sig), url
    else:
        url = c["url"]
        sig = v.compute_signature(url, c["form"])
        assert v.validate(url, c["form"], sig), url
    out.append({"url": url, "signature": sig})
print(json.dumps(out))
"#;

/// Signs with a SharedKey, as twilio-python's RequestValidator checks
/// webhooks that carry X-Twilio-Webhooks-Signature-Settings (twilio-node
/// has no SharedKey support to sign with).
const PY_SHARED_KEY_SIGNER: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator, get_signature_algorithm
spec = json.load(open(sys.argv[1]))
v = RequestValidator(spec["shared_key"])
algorithm = get_signature_algorithm(spec["settings"])
assert algorithm == "HMAC_SHA256", algorithm
out = []
for c in spec["cases"]:
    if "json" in c:
        url = c["url"] + ("&" if "?" in c["url"] else "?") + "bodySHA256=" + v.compute_hash(c["json"])
        sig = v.compute_signature(url, {}, algorithm=algorithm)
        assert v.validate(url, c["json"], sig, algorithm=algorithm), url
    else:
        url = c["url"]
        sig = v.compute_signature(url, c["form"], algorithm=algorithm)
        assert v.validate(url, c["form"], sig, algorithm=algorithm), url
    out.append({"url": url, "signature": sig})
print(json.dumps(out))
"#;

const SHARED_KEY: &str = "sk-secret-7c1d0e9f8a2b3c4d5e6f";
const SHARED_KEY_SETTINGS: &str = "key=webhooks_sharedkey_0123456789abcdef,algorithm=HMAC_SHA256";

const TWILIO_TOKEN: &str = "4f2c9a1be07d43e8a5c6b1f0d9e8a7c6";
const FORM_BODY: &str = "CallSid=CA1234567890abcdef1234567890abcdef&From=%2B14155550100&To=%2B14155550199&CallStatus=ringing&CallerName=Zo%C3%AB+Caf%C3%A9";
const JSON_BODY: &str = r#"{"CallSid":"CA1234567890abcdef1234567890abcdef","CallStatus":"ringing","CallerName":"Zoë Café"}"#;

fn form_params() -> Value {
    serde_json::json!({
        "CallSid": "CA1234567890abcdef1234567890abcdef",
        "From": "+14155550100",
        "To": "+14155550199",
        "CallStatus": "ringing",
        "CallerName": "Zoë Café",
    })
}

/// One signed request: the path it was signed for, its body and content type.
struct Case {
    name: &'static str,
    path: String,
    json: bool,
}

fn twilio_cases(webhook: &str) -> Vec<Case> {
    vec![
        Case {
            name: "form",
            path: format!("{webhook}?attempt=1"),
            json: false,
        },
        Case {
            name: "json",
            path: webhook.to_string(),
            json: true,
        },
        Case {
            name: "form, non-ASCII path",
            path: format!("{webhook}/caf%C3%A9"),
            json: false,
        },
        Case {
            name: "json, non-ASCII path",
            path: format!("{webhook}/caf%C3%A9?x=%C3%A9"),
            json: true,
        },
    ]
}

/// What a signer is asked to sign: per case, the public URL and the body.
fn signing_cases(cases: &[Case]) -> Vec<Value> {
    cases
        .iter()
        .map(|c| {
            let url = format!("https://{}{}", common::DOMAIN, c.path);
            if c.json {
                serde_json::json!({"url": url, "json": JSON_BODY})
            } else {
                serde_json::json!({"url": url, "form": form_params()})
            }
        })
        .collect()
}

/// (signed URL, signature) per case, from each SDK.
fn sdk_signatures(cases: &[Case]) -> Vec<(&'static str, Vec<(String, String)>)> {
    let dir = tempfile::tempdir().unwrap();
    let spec = serde_json::json!({
        "token": TWILIO_TOKEN,
        "cases": signing_cases(cases),
    });
    let spec_file = dir.path().join("cases.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let node_js = dir.path().join("sign.cjs");
    std::fs::write(&node_js, NODE_SIGNER).unwrap();
    let py = dir.path().join("sign.py");
    std::fs::write(&py, PY_SIGNER).unwrap();
    let parse = |v: Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["url"].as_str().unwrap().to_string(),
                    s["signature"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let node = parse(run_json(
        common::hooks::node().arg(&node_js).arg(&spec_file),
    ));
    let python = parse(run_json(
        Command::new(common::hooks::python())
            .arg(&py)
            .arg(&spec_file),
    ));
    vec![("twilio-node", node), ("twilio-python", python)]
}

/// One request through the edge (a POST) and the status it must get.
struct Probe {
    what: String,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: u16,
}

impl Probe {
    fn new(
        what: impl Into<String>,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: &str,
        status: u16,
    ) -> Probe {
        Probe {
            what: what.into(),
            path: path.to_string(),
            headers,
            body: body.to_string(),
            status,
        }
    }
}

/// Send every probe through `edge`: each gets its status, a 200 comes from
/// the app's handler (its body says "handled" and holds `echo`), and any
/// other answer does not. The number sent.
fn send_all(edge: &common::hooks::Edge, tag: &str, echo: &str, probes: &[Probe]) -> usize {
    for p in probes {
        let headers: Vec<(&str, &str)> = p.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = edge.request("POST", &p.path, &headers, p.body.as_bytes());
        assert_eq!(r.status, p.status, "{tag}: {}: {}", p.what, r.body);
        let ran = r.body.contains("handled");
        if p.status == 200 {
            assert!(
                ran && r.body.contains(echo),
                "{tag}: {}: the handler did not run: {}",
                p.what,
                r.body
            );
        } else {
            assert!(!ran, "{tag}: {} reached the handler", p.what);
        }
    }
    probes.len()
}

/// Every case from both SDKs through `edge`: genuine -> 200 (the handler
/// ran), tampered body, path or signature, or none -> 403.
fn check_twilio_through(edge: &common::hooks::Edge, webhook: &str, what: &str) -> usize {
    let cases = twilio_cases(webhook);
    let mut sent = 0;
    for (sdk, signed) in sdk_signatures(&cases) {
        for (case, (url, signature)) in cases.iter().zip(signed) {
            let path = url
                .strip_prefix(&format!("https://{}", common::DOMAIN))
                .unwrap()
                .to_string();
            let (ctype, body) = if case.json {
                ("application/json", JSON_BODY)
            } else {
                ("application/x-www-form-urlencoded", FORM_BODY)
            };
            let headers = |sig: Option<&str>| {
                let mut h = vec![("Content-Type", ctype.to_string())];
                h.extend(sig.map(|s| ("X-Twilio-Signature", s.to_string())));
                h
            };
            let tampered_path = if case.path.contains("caf%C3%A9") {
                // The decoded spelling of the path is not what was signed.
                path.replace("caf%C3%A9", "cafe")
            } else {
                path.replacen(webhook, &format!("{webhook}/other"), 1)
            };
            let mut wrong = signature.clone();
            wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
            let tampered_body = body.replace("ringing", "completed");
            let probes = [
                Probe::new("genuine", &path, headers(Some(&signature)), body, 200),
                Probe::new(
                    "tampered body",
                    &path,
                    headers(Some(&signature)),
                    &tampered_body,
                    403,
                ),
                Probe::new(
                    format!("signature replayed on {tampered_path}"),
                    &tampered_path,
                    headers(Some(&signature)),
                    body,
                    403,
                ),
                Probe::new("bad signature", &path, headers(Some(&wrong)), body, 403),
                Probe::new("no signature", &path, headers(None), body, 403),
            ];
            sent += send_all(edge, &format!("{what}, {sdk}, {}", case.name), "", &probes);
        }
    }
    sent
}

/// SharedKey-signed webhooks (HMAC-SHA256, twilio-python) through `edge`:
/// genuine -> 200; tampered body, a settings header naming another
/// algorithm, or none (so the auth token is tried) -> 403.
fn check_shared_key_through(edge: &common::hooks::Edge, webhook: &str, what: &str) -> usize {
    let cases = twilio_cases(webhook);
    let dir = tempfile::tempdir().unwrap();
    let spec = serde_json::json!({
        "shared_key": SHARED_KEY,
        "settings": SHARED_KEY_SETTINGS,
        "cases": signing_cases(&cases),
    });
    let spec_file = dir.path().join("cases.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let py = dir.path().join("sign.py");
    std::fs::write(&py, PY_SHARED_KEY_SIGNER).unwrap();
    let signed = run_json(
        Command::new(common::hooks::python())
            .arg(&py)
            .arg(&spec_file),
    );
    let mut sent = 0;
    for (case, s) in cases.iter().zip(signed.as_array().unwrap()) {
        let url = s["url"].as_str().unwrap();
        let signature = s["signature"].as_str().unwrap();
        let path = url
            .strip_prefix(&format!("https://{}", common::DOMAIN))
            .unwrap();
        let (ctype, body) = if case.json {
            ("application/json", JSON_BODY)
        } else {
            ("application/x-www-form-urlencoded", FORM_BODY)
        };
        let headers = |settings: Option<&str>| {
            let mut h = vec![
                ("Content-Type", ctype.to_string()),
                ("X-Twilio-Signature", signature.to_string()),
            ];
            h.extend(settings.map(|v| ("X-Twilio-Webhooks-Signature-Settings", v.to_string())));
            h
        };
        let sha1 = SHARED_KEY_SETTINGS.replace("HMAC_SHA256", "HMAC_SHA1");
        let unknown = SHARED_KEY_SETTINGS.replace("HMAC_SHA256", "HMAC_SHA512");
        let tampered = body.replace("ringing", "completed");
        let probes = [
            Probe::new(
                "genuine",
                path,
                headers(Some(SHARED_KEY_SETTINGS)),
                body,
                200,
            ),
            Probe::new(
                "tampered body",
                path,
                headers(Some(SHARED_KEY_SETTINGS)),
                &tampered,
                403,
            ),
            Probe::new(
                "settings naming HMAC_SHA1",
                path,
                headers(Some(&sha1)),
                body,
                403,
            ),
            Probe::new(
                "an unknown algorithm",
                path,
                headers(Some(&unknown)),
                body,
                403,
            ),
            Probe::new("no settings header", path, headers(None), body, 403),
        ];
        sent += send_all(
            edge,
            &format!("{what}, SharedKey, {}", case.name),
            "",
            &probes,
        );
    }
    sent
}

#[test]
fn twilio_sdk_signed_webhooks_through_nginx_into_express() {
    let run = init_preset("twilio-voice");
    let module = run.read("src/webhooks/twilio-signature.cjs");
    let webhook = "/twilio/voice";
    assert!(run
        .read("shipready.toml")
        .contains("webhook_path = \"/twilio/voice\""));
    // twilio-voice runs dist/server.js, compiled from src/server.ts: the app
    // goes there, with the documented lines as they are, plus a route
    // parameter so that a non-ASCII path reaches the same chain.
    let usage = node_usage(&module);
    let routed = usage.replacen(
        &format!("app.post('{webhook}',"),
        &format!("app.post(['{webhook}', '{webhook}/:name'],"),
        1,
    );
    assert_ne!(routed, usage, "the usage posts to {webhook}");
    let server = format!(
        "'use strict';\nconst handler = (req, res) => res.json({{ handled: true, body: req.body }});\n{routed}\
         app.listen(Number(process.env.PORT), '127.0.0.1');\n"
    );
    std::fs::create_dir_all(run.path().join("dist")).unwrap();
    std::fs::write(run.path().join("dist/server.js"), server).unwrap();
    let edge = common::hooks::Edge::start(run.path(), |port| {
        let mut cmd = common::hooks::node();
        cmd.arg("dist/server.js")
            .current_dir(run.path())
            .env("PORT", port.to_string())
            .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
            .env("TWILIO_WEBHOOK_SHARED_KEY", SHARED_KEY)
            .env("PUBLIC_BASE_URL", format!("https://{}", common::DOMAIN));
        cmd
    });
    let sent = check_twilio_through(&edge, webhook, "express");
    assert_eq!(sent, 40);
    assert_eq!(check_shared_key_through(&edge, webhook, "express"), 20);
}

/// Write a FastAPI app made of the module's documented usage (with a
/// handler body in place of the documented `...`) and `extra` after it, and start uvicorn on it as the preset's start command does.
fn fastapi_app(
    project: &Path,
    module: &str,
    handler: &[(&str, &str)],
    extra: &str,
    env: &[(&str, &str)],
) -> common::hooks::Edge {
    let mut usage = common::hooks::python_usage(module);
    for (documented, body) in handler {
        assert!(
            usage.contains(documented),
            "the usage has {documented:?}: {usage}"
        );
        usage = usage.replacen(documented, body, 1);
    }
    std::fs::write(
        project.join("webhook_app.py"),
        format!("{usage}\n{extra}\n"),
    )
    .unwrap();
    common::hooks::Edge::start(project, |port| {
        let mut cmd = Command::new(common::hooks::python());
        cmd.args([
            "-m",
            "uvicorn",
            "webhook_app:app",
            "--host",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .args([
            "--proxy-headers",
            "--forwarded-allow-ips=*",
            "--log-level",
            "warning",
        ])
        .current_dir(project)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PUBLIC_BASE_URL", format!("https://{}", common::DOMAIN));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    })
}

#[test]
fn twilio_sdk_signed_webhooks_through_nginx_into_fastapi() {
    let run = init_preset_with("fastapi-three-tier", &["voice.provider=twilio"]);
    let webhook = "/webhooks/voice";
    assert!(run
        .read("shipready.toml")
        .contains("webhook_path = \"/webhooks/voice\""));
    let module = run.read("app/webhooks/twilio_signature.py");
    // The documented route with a handler body that says it ran, and the
    // same dependency on a route with a path parameter for non-ASCII paths.
    let extra = format!(
        "app.post(\"{webhook}/{{name}}\", dependencies=[Depends(verify_twilio_signature)])(incoming_call)"
    );
    let edge = fastapi_app(
        run.path(),
        &module,
        &[(
            "async def incoming_call(request: Request): ...",
            "async def incoming_call(request: Request): return {\"handled\": True}",
        )],
        &extra,
        &[
            ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
            ("TWILIO_WEBHOOK_SHARED_KEY", SHARED_KEY),
        ],
    );
    let sent = check_twilio_through(&edge, webhook, "fastapi");
    assert_eq!(sent, 40);
    assert_eq!(check_shared_key_through(&edge, webhook, "fastapi"), 20);
}

const RC_TOKEN: &str = "vt-5d1e9c7a3b";
const RC_EVENT: &str = r#"{"uuid":"1d2c3b4a","event":"/restapi/v1.0/account/~/extension/~/telephony/sessions","body":{"telephonySessionId":"s-1"}}"#;

/// The handshake and notifications (with either token header) reach the app
/// through nginx; a foreign or missing token does not.
fn check_ringcentral_through(edge: &common::hooks::Edge, webhook: &str, what: &str) {
    let handshake = edge.request(
        "POST",
        webhook,
        &[("Validation-Token", "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e")],
        b"",
    );
    assert_eq!(
        handshake.status, 200,
        "{what}: handshake: {}",
        handshake.body
    );
    assert_eq!(
        handshake.header("validation-token"),
        Some("9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e"),
        "{what}: the handshake echoes the header"
    );
    assert!(
        handshake.body.len() + 200 < 1024 && !handshake.body.contains("handled"),
        "{what}: the handshake answers small, without the handler: {:?}",
        handshake.body
    );
    let token = |pairs: &[(&'static str, &str)]| {
        let mut h = vec![("Content-Type", "application/json".to_string())];
        h.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
        h
    };
    let probes = [
        (
            "notification by Verification-Token",
            token(&[("Verification-Token", RC_TOKEN)]),
            200,
        ),
        (
            "notification by Validation-Token (current guide)",
            token(&[("Validation-Token", RC_TOKEN)]),
            200,
        ),
        (
            "notification by both headers",
            token(&[
                ("Validation-Token", RC_TOKEN),
                ("Verification-Token", RC_TOKEN),
            ]),
            200,
        ),
        (
            "a wrong Verification-Token",
            token(&[("Verification-Token", "vt-5d1e9c7a3c")]),
            401,
        ),
        (
            "a foreign Validation-Token",
            token(&[("Validation-Token", "9b8c7d6e-5f4a")]),
            401,
        ),
        ("no token", token(&[]), 401),
    ]
    .map(|(name, headers, status)| Probe::new(name, webhook, headers, RC_EVENT, status));
    send_all(edge, what, "telephony/sessions", &probes);
}

#[test]
fn ringcentral_handshake_and_notifications_through_nginx_into_express() {
    let run = init_preset("ringcentral-hold-hunter");
    let webhook = "/webhooks/ringcentral";
    assert!(run
        .read("shipready.toml")
        .contains("webhook_path = \"/webhooks/ringcentral\""));
    assert!(run
        .read("shipready.toml")
        .contains(r#"start_command = ["node", "src/index.js"]"#));
    let usage = node_usage(&run.read("src/webhooks/ringcentral-webhook.cjs"));
    let server = format!(
        "'use strict';\nconst handler = (req, res) => res.json({{ handled: true, event: req.body.event }});\n{usage}\
         app.listen(Number(process.env.PORT), '127.0.0.1');\n"
    );
    std::fs::write(run.path().join("src/index.js"), server).unwrap();
    let edge = common::hooks::Edge::start(run.path(), |port| {
        let mut cmd = common::hooks::node();
        cmd.arg("src/index.js")
            .current_dir(run.path())
            .env("PORT", port.to_string())
            .env("RINGCENTRAL_VERIFICATION_TOKEN", RC_TOKEN);
        cmd
    });
    check_ringcentral_through(&edge, webhook, "express");
}

#[test]
fn ringcentral_handshake_and_notifications_through_nginx_into_fastapi() {
    let run = init_preset_with("fastapi-three-tier", &["voice.provider=ringcentral"]);
    let webhook = "/webhooks/voice";
    assert!(run
        .read("shipready.toml")
        .contains("webhook_path = \"/webhooks/voice\""));
    let edge = fastapi_app(
        run.path(),
        &run.read("app/webhooks/ringcentral_webhook.py"),
        &[(
            "\n    ...\n",
            "\n    return {\"handled\": True, \"event\": event[\"event\"]}\n",
        )],
        "",
        &[("RINGCENTRAL_VERIFICATION_TOKEN", RC_TOKEN)],
    );
    check_ringcentral_through(&edge, webhook, "fastapi");
}

/// Express routes /metrics case-insensitively and with a trailing slash:
/// nginx must refuse every such spelling (and the ones it normalises to
/// them), not only the exact path.
#[test]
fn metrics_is_refused_at_the_edge_in_every_spelling_the_app_routes() {
    let run = init_preset("twilio-voice");
    assert!(run
        .read("shipready.toml")
        .contains("metrics_path = \"/metrics\""));
    let server = "'use strict';\nconst express = require('express');\nconst app = express();\n\
         app.get('/metrics', (req, res) => res.send('process_cpu_seconds_total 1'));\n\
         app.get('/health', (req, res) => res.send('ok'));\n\
         app.listen(Number(process.env.PORT), '127.0.0.1');\n";
    std::fs::create_dir_all(run.path().join("dist")).unwrap();
    std::fs::write(run.path().join("dist/server.js"), server).unwrap();
    let edge = common::hooks::Edge::start(run.path(), |port| {
        let mut cmd = common::hooks::node();
        cmd.arg("dist/server.js")
            .current_dir(run.path())
            .env("PORT", port.to_string());
        cmd
    });
    // The spellings Express itself serves the metrics for.
    let routed = [
        "/metrics",
        "/metrics/",
        "/METRICS",
        "/Metrics?x=1",
        "/mEtRiCs/",
    ];
    for path in routed {
        let out = Command::new(require_tool("curl"))
            .args(["-s", "--path-as-is"])
            .arg(format!("http://127.0.0.1:{}{path}", edge.ports.upstream))
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("process_cpu_seconds_total"),
            "the app itself serves {path} (else this spelling proves nothing)"
        );
    }
    let normalised = [
        "//metrics",
        "/%6Detrics",
        "/%4D%45TRICS/",
        "/health/../metrics",
        "/./Metrics",
    ];
    for path in routed.iter().chain(normalised.iter()) {
        let r = edge.request("GET", path, &[], b"");
        assert_eq!(r.status, 404, "{path} through nginx: {}", r.body);
        assert!(
            !r.body.contains("process_cpu_seconds_total"),
            "{path} leaked metrics"
        );
    }
    // The edge still passes the app's other routes.
    assert_eq!(edge.request("GET", "/health", &[], b"").status, 200);
}
