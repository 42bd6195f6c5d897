//! Hostile profile values for tests/fast/profile_input.rs: the values no field
//! may accept, the values that mean the wrong thing for one field, and
//! helpers to place a value at a dotted key (sidecar fields included).

use shipready::profile::{Kind, MAX_DOMAIN_LEN};
use toml::Value;

/// Values no field accepts: shell, YAML, HCL and nginx metacharacters,
/// command substitution, control characters, look-alike letters and
/// lengths past every limit.
pub const HOSTILE: &[&str] = &[
    "x$(touch /tmp/shipready-pwned)",
    "x`id`",
    "x\nb: c",
    "x\"y",
    "x\\y",
    "x|id",
    "x&id",
    "x>y",
    "x{y}",
    "x\ty",
    "x\u{0}y",
    // Cyrillic 'о' in place of the Latin one.
    "v\u{043e}ice.example.com",
    "x\u{200b}y",
    "\u{ff0f}etc",
];

/// Values with harmless characters that mean the wrong thing for their
/// field: publishing the repository or its secrets, a tmpfs over the app,
/// a path the edge already routes, names git, GitHub or nginx refuse,
/// options posing as commands.
pub fn meaning_hostile() -> Vec<(&'static str, Value)> {
    let s = |x: &str| Value::String(x.into());
    let list = |xs: &[&str]| Value::Array(xs.iter().map(|x| s(x)).collect());
    let long_domain = format!("{}.example.com", "a".repeat(184));
    let mut out = vec![
        ("service.static_dir", s(".")),
        ("service.static_dir", s("./")),
        ("service.static_dir", s("secrets")),
        ("service.static_dir", s(".git")),
        ("service.static_dir", s("public/../..")),
        ("service.static_dir", s("/etc")),
        ("service.static_dir", s("dist/.env")),
        ("service.writable_dirs", list(&["."])),
        ("service.writable_dirs", list(&["secrets"])),
        ("service.writable_dirs", list(&["../tmp"])),
        ("service.writable_dirs", list(&["/tmp"])),
        ("ci.main_branch", s(".")),
        ("ci.main_branch", s("-x")),
        ("ci.main_branch", s("a..b")),
        ("ci.main_branch", s("main.lock")),
        ("ci.main_branch", s("/main")),
        ("ci.main_branch", s("main/")),
        ("ci.main_branch", s("a//b")),
        ("ci.main_branch", s("team/.hidden")),
        ("ci.github_repository", s("../..")),
        ("ci.github_repository", s("acme/a/b")),
        ("ci.github_repository", s("-acme/app")),
        ("ci.github_repository", s("acme/..")),
        ("ci.github_repository", s("acme")),
        ("edge.domain", s(&long_domain)),
        (
            "edge.domain",
            s(&format!("{}.com", "a".repeat(MAX_DOMAIN_LEN - 3))),
        ),
        ("edge.domain", s(&format!("{}.example.com", "a".repeat(64)))),
        ("edge.domain", s("localhost")),
        ("edge.domain", s("-a.example.com")),
        ("edge.cors_origins", list(&["*"])),
        ("edge.cors_origins", list(&["http://app.example.com"])),
        ("sidecars[].image", s("ghcr.io/acme/x:latest")),
        ("sidecars[].image", s("../x:1.0")),
        ("sidecars[].name", s("app")),
        (
            "monitoring.runbook_base_url",
            s("https://x.example.com/../../y"),
        ),
    ];
    for key in [
        "service.health_path",
        "service.ready_path",
        "service.api_prefix",
        "service.auth_path",
        "service.metrics_path",
        "voice.webhook_path",
        "voice.websocket_path",
    ] {
        out.push((key, s("/")));
        out.push((key, s("/.well-known/acme-challenge/x")));
        out.push((key, s("/a/../b")));
    }
    // Two paths the edge would route to one location.
    for (key, value) in [
        ("voice.webhook_path", "/health"),
        ("voice.websocket_path", "/api/auth"),
        ("service.metrics_path", "/health"),
        ("service.auth_path", "/metrics"),
        ("service.auth_path", "/api/"),
    ] {
        out.push((key, s(value)));
    }
    for key in [
        "service.start_command",
        "worker.command",
        "postgres.migrate_command",
    ] {
        out.push((key, list(&["-x"])));
        out.push((key, list(&["../../etc/x"])));
        out.push((key, list(&["node", "../../etc/x"])));
        out.push((key, list(&["node", "--require=../../x.js"])));
    }
    out
}

/// A value of the field's shape holding `hostile`.
pub fn shaped(kind: Kind, hostile: &str) -> Value {
    match kind {
        Kind::List(_) => Value::Array(vec![hostile.into()]),
        Kind::Command => Value::Array(vec!["node".into(), hostile.into()]),
        _ => Value::String(hostile.into()),
    }
}

pub fn sidecar() -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("name".into(), "inference".into());
    t.insert("image".into(), "ghcr.io/acme/inference:1.4.2".into());
    t.insert("port".into(), Value::Integer(8080));
    t
}

/// `table` with `key` (dotted, or `sidecars[].x`) set to `value`.
pub fn set(table: &mut toml::Table, key: &str, value: Value) {
    if let Some(field) = key.strip_prefix("sidecars[].") {
        let mut sc = sidecar();
        sc.insert(field.into(), value);
        table.insert("sidecars".into(), Value::Array(vec![Value::Table(sc)]));
        return;
    }
    let (path, last) = key.rsplit_once('.').expect("a dotted key");
    let mut cur = table;
    for part in path.split('.') {
        cur = cur
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("a section");
    }
    cur.insert(last.into(), value);
}

/// The key as errors name it (`sidecars[0].x` for the one sidecar).
pub fn named(key: &str) -> String {
    key.replace("sidecars[]", "sidecars[0]")
}
