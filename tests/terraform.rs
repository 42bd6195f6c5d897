//! The Terraform under infra/terraform, for every preset: formatted, parsed
//! by python-hcl2, clean under checkov (every accepted finding skipped
//! inline with a reason and listed in the generated README), and, in place
//! of `terraform validate` (which needs the providers), every reference
//! cross-checked against what the same preset declares.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use shipready::verify::terraform::{CHECKOV, DIR, FMT, HCL_PARSE};
use shipready::verify::Outcome;

/// Presets plus variants that switch stores off, so a missing store is
/// never referenced (a preset with a worker needs Redis, so only the ones
/// without a worker can drop it).
fn variants() -> Vec<(String, Vec<&'static str>)> {
    let mut v: Vec<(String, Vec<&'static str>)> =
        common::presets().into_iter().map(|p| (p, vec![])).collect();
    v.push(("node-dashboard".into(), vec!["redis.enabled=false"]));
    v.push(("node-dashboard".into(), vec!["postgres.enabled=false"]));
    v.push((
        "node-dashboard".into(),
        vec![
            "redis.enabled=false",
            "postgres.enabled=false",
            "voice.websocket_path=",
        ],
    ));
    v.push((
        "prisma-voice".into(),
        vec!["redis.enabled=false", "repository=acme/voice-platform"],
    ));
    v.push((
        "twilio-voice".into(),
        vec!["aws.environments=[\"production\"]"],
    ));
    v.push((
        "fastapi-three-tier".into(),
        vec![
            "aws.environments=[\"dev\",\"staging\",\"production\"]",
            "worker.metrics_port=9100",
        ],
    ));
    v
}

fn init(preset: &str, sets: &[&str]) -> common::Run {
    if sets.is_empty() {
        common::init_preset(preset)
    } else {
        common::init_preset_with(preset, sets)
    }
}

fn tf_files(root: &Path) -> Vec<(String, String)> {
    let dir = root.join(DIR);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn tfvars_files(root: &Path) -> Vec<(String, String)> {
    let dir = root.join(DIR).join("environments");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tfvars"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// A small HCL reader: enough of the language to find declarations and the
// references in expressions (outside comments and literal string text, but
// inside ${...} interpolations).

#[derive(Default, Debug)]
struct Decls {
    variables: BTreeMap<String, bool>, // name -> has a default
    locals: BTreeSet<String>,
    resources: BTreeSet<String>, // "type.name"
    data: BTreeSet<String>,      // "type.name"
    modules: BTreeSet<String>,
    outputs: BTreeSet<String>,
}

fn quoted_labels(line: &str) -> Vec<String> {
    line.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// Declarations, from `terraform fmt` canonical layout: block headers at
/// column 0, block attributes indented by two spaces.
fn declarations(files: &[(String, String)]) -> Decls {
    let mut d = Decls::default();
    let mut seen = BTreeSet::new();
    for (file, text) in files {
        let mut current: Option<(String, Vec<String>)> = None;
        for line in text.lines() {
            if line == "}" {
                current = None;
                continue;
            }
            if !line.starts_with(' ') && (line.ends_with('{') || line.ends_with("{}")) {
                let kind = line.split_whitespace().next().unwrap_or("").to_string();
                let labels = quoted_labels(line);
                let key = format!("{kind} {}", labels.join(" "));
                assert!(
                    labels.is_empty() || seen.insert(key.clone()),
                    "{file}: `{key}` is declared twice"
                );
                match (kind.as_str(), labels.as_slice()) {
                    ("resource", [t, n]) => {
                        d.resources.insert(format!("{t}.{n}"));
                    }
                    ("data", [t, n]) => {
                        d.data.insert(format!("{t}.{n}"));
                    }
                    ("variable", [n]) => {
                        d.variables.insert(n.clone(), false);
                    }
                    ("module", [n]) => {
                        d.modules.insert(n.clone());
                    }
                    ("output", [n]) => {
                        d.outputs.insert(n.clone());
                    }
                    ("locals" | "terraform" | "provider", _) => {}
                    other => panic!("{file}: unexpected top-level block {other:?}"),
                }
                current = (!line.ends_with("{}")).then_some((kind, labels));
                continue;
            }
            let Some((kind, labels)) = &current else {
                continue;
            };
            let Some(attr) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) else {
                continue;
            };
            let name = attr.split([' ', '=']).next().unwrap_or("");
            if kind == "locals" && attr.contains('=') && !name.is_empty() && !name.starts_with('#')
            {
                assert!(
                    d.locals.insert(name.to_string()),
                    "{file}: local.{name} twice"
                );
            }
            if kind == "variable" && name == "default" {
                d.variables.insert(labels[0].clone(), true);
            }
        }
    }
    d
}

/// Every traversal (`a.b.c`) that appears in expression position.
fn traversals(src: &str) -> Vec<Vec<String>> {
    let c: Vec<char> = src.chars().collect();
    let n = c.len();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let ident = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-';
    let mut out = Vec::new();
    let mut in_str = false;
    // One brace depth per open ${ ... } interpolation.
    let mut interp: Vec<u32> = Vec::new();
    let mut i = 0;
    while i < n {
        let ch = c[i];
        if in_str {
            match ch {
                '\\' => i += 1,
                '"' => in_str = false,
                '$' | '%' if at(i + 1) == '{' => {
                    interp.push(0);
                    in_str = false;
                    i += 1;
                }
                '\n' => panic!("unterminated string before: {}", &src[..src.len().min(80)]),
                _ => {}
            }
            i += 1;
            continue;
        }
        match ch {
            '#' => {
                while i < n && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '/' => {
                while i < n && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                while i + 1 < n && !(c[i] == '*' && c[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            '<' if at(i + 1) == '<' => panic!("heredocs are not used (jsonencode instead)"),
            '"' => in_str = true,
            '{' => {
                if let Some(d) = interp.last_mut() {
                    *d += 1;
                }
            }
            '}' => {
                if let Some(d) = interp.last_mut() {
                    if *d == 0 {
                        interp.pop();
                        in_str = true;
                    } else {
                        *d -= 1;
                    }
                }
            }
            ch if (ch.is_ascii_alphabetic() || ch == '_')
                && !(i > 0 && (ident(c[i - 1]) || c[i - 1] == '.')) =>
            {
                let mut segs = Vec::new();
                loop {
                    let start = i;
                    while i < n && ident(c[i]) {
                        i += 1;
                    }
                    segs.push(c[start..i].iter().collect::<String>());
                    if at(i) == '.' && (at(i + 1).is_ascii_alphabetic() || at(i + 1) == '_') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(segs);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    assert!(
        !in_str && interp.is_empty(),
        "unbalanced strings or interpolations"
    );
    out
}

#[derive(Default)]
struct Refs {
    variables: BTreeSet<String>,
    problems: Vec<String>,
    resource_refs: usize,
}

fn check_references(files: &[(String, String)], d: &Decls) -> Refs {
    let mut r = Refs::default();
    for (file, text) in files {
        for t in traversals(text) {
            let seg = |k: usize| t.get(k).map(String::as_str).unwrap_or("");
            let missing = match seg(0) {
                "var" | "local" | "module" if t.len() < 2 => None,
                "data" if t.len() < 3 => None,
                "var" => {
                    r.variables.insert(seg(1).to_string());
                    (!d.variables.contains_key(seg(1))).then(|| format!("var.{}", seg(1)))
                }
                "local" => (!d.locals.contains(seg(1))).then(|| format!("local.{}", seg(1))),
                "data" => {
                    let key = format!("{}.{}", seg(1), seg(2));
                    (!d.data.contains(&key)).then(|| format!("data.{key}"))
                }
                "module" => (!d.modules.contains(seg(1))).then(|| format!("module.{}", seg(1))),
                first
                    if (first.starts_with("aws_") || first.starts_with("random_"))
                        && t.len() >= 2 =>
                {
                    r.resource_refs += 1;
                    let key = format!("{first}.{}", seg(1));
                    (!d.resources.contains(&key)).then_some(key)
                }
                _ => None,
            };
            if let Some(m) = missing {
                r.problems.push(format!("{file}: {m} is not declared"));
            }
        }
    }
    r
}

/// `key = value` lines of a tfvars file.
fn tfvars_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().trim().to_string())
        .collect()
}

/// `(address, id, reason)` of every inline checkov skip.
fn skips(files: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (file, text) in files {
        let mut address = String::new();
        for line in text.lines() {
            if !line.starts_with(' ') && line.ends_with('{') {
                let labels = quoted_labels(line);
                address = match (line.split_whitespace().next(), labels.as_slice()) {
                    (Some("resource"), [t, n]) => format!("{t}.{n}"),
                    (Some("data"), [t, n]) => format!("data.{t}.{n}"),
                    _ => String::new(),
                };
            }
            if let Some(rest) = line.trim().strip_prefix("#checkov:skip=") {
                let (id, reason) = rest
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{file}: skip without a reason: {line}"));
                assert!(
                    !address.is_empty(),
                    "{file}: skip outside a resource: {line}"
                );
                out.push((address.clone(), id.to_string(), reason.to_string()));
            }
        }
    }
    out
}

#[test]
fn references_resolve_for_every_preset_and_store_combination() {
    for (preset, sets) in variants() {
        let run = init(&preset, &sets);
        let label = format!("{preset} {sets:?}");
        let files = tf_files(run.path());
        assert!(files.len() >= 10, "{label}: only {} .tf files", files.len());
        let d = declarations(&files);
        let refs = check_references(&files, &d);
        assert!(
            refs.problems.is_empty(),
            "{label}: undeclared references:\n{}",
            refs.problems.join("\n")
        );
        // The reader really saw the code: a stack this size has hundreds.
        assert!(
            refs.resource_refs > 100,
            "{label}: only {} resource references",
            refs.resource_refs
        );

        // Every variable is used, and every one without a default is set by
        // each tfvars or is one of the two documented -var inputs.
        let unused: Vec<_> = d
            .variables
            .keys()
            .filter(|v| !refs.variables.contains(*v))
            .collect();
        assert!(
            unused.is_empty(),
            "{label}: variables never used: {unused:?}"
        );
        let readme = run.read(&format!("{DIR}/README.md"));
        let tfvars = tfvars_files(run.path());
        assert!(!tfvars.is_empty(), "{label}: no tfvars");
        for (name, text) in &tfvars {
            let keys = tfvars_keys(text);
            let mut unique = keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), keys.len(), "{label}: {name} sets a key twice");
            for k in &keys {
                assert!(
                    d.variables.contains_key(k),
                    "{label}: {name} sets undeclared variable {k}"
                );
            }
            for (v, has_default) in &d.variables {
                if *has_default || keys.contains(v) {
                    continue;
                }
                assert!(
                    v == "image_tag" || v == "github_repository",
                    "{label}: {name} leaves {v} (no default) unset"
                );
                assert!(
                    readme.contains(&format!("-var {v}=")),
                    "{label}: README.md does not say to pass -var {v}=..."
                );
            }
        }
        let gh_set = sets.iter().any(|s| s.starts_with("repository="));
        assert_eq!(
            tfvars
                .iter()
                .all(|(_, t)| tfvars_keys(t).contains(&"github_repository".to_string())),
            gh_set,
            "{label}: github_repository in tfvars exactly when the profile names the repository"
        );

        // Stores that are off leave no trace.
        let all: String = files.iter().map(|(_, t)| t.as_str()).collect();
        let shipready_toml = run.read("shipready.toml");
        let has = |section: &str| {
            let table: toml::Table = shipready_toml.parse().unwrap();
            fn find<'a>(v: &'a toml::Value, key: &str) -> Option<&'a toml::Value> {
                match v {
                    toml::Value::Table(t) => {
                        t.get(key).or_else(|| t.values().find_map(|x| find(x, key)))
                    }
                    _ => None,
                }
            }
            find(&toml::Value::Table(table), section)
                .and_then(|s| s.get("enabled"))
                .and_then(toml::Value::as_bool)
                .unwrap_or(false)
        };
        assert_eq!(
            all.contains("aws_db_instance"),
            has("postgres"),
            "{label}: RDS iff postgres"
        );
        assert_eq!(
            all.contains("aws_elasticache_replication_group"),
            has("redis"),
            "{label}: ElastiCache iff redis"
        );
        assert_eq!(
            all.contains("aws_ecs_service\" \"worker"),
            has("worker"),
            "{label}: worker service iff worker"
        );

        // Each checkov skip has a real reason and is listed in the README
        // with its resource; the README lists no skip that is not there.
        let found = skips(&files);
        assert!(
            !found.is_empty(),
            "{label}: no checkov skips found (reader broken?)"
        );
        let mut rows = BTreeSet::new();
        for (address, id, reason) in &found {
            assert!(
                id.starts_with("CKV") && reason.split_whitespace().count() >= 8,
                "{label}: {address}: skip {id} needs a real reason, got {reason:?}"
            );
            let row = format!("| {id} | `{address}` | {reason} |");
            assert!(
                readme.contains(&row),
                "{label}: README.md lacks the row\n{row}"
            );
            rows.insert(row);
        }
        let listed: BTreeSet<String> = readme
            .lines()
            .filter(|l| l.starts_with("| CKV"))
            .map(str::to_string)
            .collect();
        assert_eq!(
            listed, rows,
            "{label}: README skip table and inline skips differ"
        );

        // Each trivy ignore stands right above the resource it concerns,
        // has a real reason, and its check is listed in the README.
        let ignores = trivy_ignores(&files);
        assert!(
            ignores.len() >= 2,
            "{label}: no trivy ignores found (reader broken?)"
        );
        for (address, id, reason) in &ignores {
            assert!(
                reason.split_whitespace().count() >= 8,
                "{label}: {address}: trivy ignore {id} needs a real reason, got {reason:?}"
            );
            assert!(
                readme
                    .lines()
                    .any(|l| l.starts_with(&format!("| {id} | `"))),
                "{label}: README.md does not list trivy's {id} ({address})"
            );
        }
    }
}

/// `(address, id, reason)` of every `#trivy:ignore:ID reason` line, each of
/// which must stand directly above a resource (where trivy applies it).
fn trivy_ignores(files: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (file, text) in files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.strip_prefix("#trivy:ignore:") else {
                assert!(
                    !line.contains("trivy:ignore"),
                    "{file}: a trivy ignore trivy would not apply: {line}"
                );
                continue;
            };
            let (id, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let labels = quoted_labels(next);
            let address = match (next.split_whitespace().next(), labels.as_slice()) {
                (Some("resource"), [t, n]) => format!("{t}.{n}"),
                _ => panic!("{file}: trivy ignore not directly above a resource: {line}"),
            };
            out.push((address, id.to_string(), reason.to_string()));
        }
    }
    out
}

fn expect_pass(what: &str, outcome: Outcome) {
    if let Outcome::Fail(out) = outcome {
        panic!("{what} failed:\n{out}");
    }
}

#[test]
fn fmt_hcl_and_checkov_pass_for_every_preset() {
    common::require_tool("terraform");
    common::require_tool("hcl2tojson");
    common::require_tool("checkov");
    let mut timings = Vec::new();
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let root = run.path();
        expect_pass(
            &format!("{preset}: terraform fmt -check"),
            (FMT.run)(root, DIR),
        );
        expect_pass(&format!("{preset}: HCL parse"), (HCL_PARSE.run)(root, DIR));
        let files = shipready::verify::terraform::hcl_files(&root.join(DIR));
        assert!(
            files.len() >= 12,
            "{preset}: the parse saw only {} files",
            files.len()
        );
        let t = Instant::now();
        expect_pass(&format!("{preset}: checkov"), (CHECKOV.run)(root, DIR));
        timings.push(format!("{preset} {:.1}s", t.elapsed().as_secs_f64()));
    }
    eprintln!("checkov: {}", timings.join(", "));
}

/// The validators catch what they are there for: a misaligned attribute, a
/// broken block, and a finding whose skip is removed.
#[test]
fn validators_fail_on_broken_terraform() {
    common::require_tool("terraform");
    common::require_tool("hcl2tojson");
    common::require_tool("checkov");
    let run = common::init_preset("ringcentral-hold-hunter");
    let root = run.path();
    let sg = root.join(DIR).join("security_groups.tf");
    let original = std::fs::read_to_string(&sg).unwrap();

    std::fs::write(
        &sg,
        original.replace("  ip_protocol       = \"tcp\"", "  ip_protocol = \"tcp\""),
    )
    .unwrap();
    assert!(
        matches!((FMT.run)(root, DIR), Outcome::Fail(_)),
        "fmt passed a misaligned file"
    );

    std::fs::write(&sg, format!("{original}\nresource \"aws_x\" \"y\" {{\n")).unwrap();
    assert!(
        matches!((HCL_PARSE.run)(root, DIR), Outcome::Fail(_)),
        "HCL parse passed an open block"
    );

    let without_skip: String = original
        .lines()
        .filter(|l| !l.contains("#checkov:skip=CKV_AWS_260"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        without_skip, original,
        "the port-80 skip is where the test expects it"
    );
    std::fs::write(&sg, without_skip).unwrap();
    match (CHECKOV.run)(root, DIR) {
        Outcome::Fail(out) => assert!(out.contains("CKV_AWS_260"), "{out}"),
        Outcome::Pass => panic!("checkov passed port 80 open to the world without its skip"),
    }
}

/// The reader finds references in expressions and interpolations, and not in
/// comments or literal text, so the cross-check above can fail.
#[test]
fn reference_reader_sees_expressions_not_text() {
    let src = r#"# aws_commented.out var.commented
variable "known" {
  default = 1
}

resource "aws_thing" "a" {
  name  = "literal aws_text.only and var.text ${var.missing}-${aws_other.b.id}"
  count = var.known
  list  = [for o in aws_thing.a[*] : "${o.id}/${local.nope}"]
  other = data.aws_x.y.id /* aws_block.comment */
  obj   = jsonencode({ k = "${format("%s", "aws_inner.text")}" })
}
"#;
    let files = vec![("t.tf".to_string(), src.to_string())];
    let d = declarations(&files);
    let r = check_references(&files, &d);
    let mut problems = r.problems.clone();
    problems.sort();
    assert_eq!(
        problems,
        [
            "t.tf: aws_other.b is not declared",
            "t.tf: data.aws_x.y is not declared",
            "t.tf: local.nope is not declared",
            "t.tf: var.missing is not declared",
        ]
    );
}
