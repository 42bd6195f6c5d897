//! The Terraform under infra/terraform, for every preset: formatted, parsed
//! by python-hcl2, clean under checkov (every accepted finding skipped
//! inline with a reason and listed in the generated README), and, in place
//! of `terraform validate` (which needs the providers), every reference
//! cross-checked against what the same preset declares.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
    // The opt-in inference sidecar: no preset ships one, so sidecars.tf is
    // rendered only here.
    v.push((
        "fastapi-three-tier".into(),
        vec![
            r#"sidecars=[{ name = "inference", image = "registry.example.com/inference:1.0.0", port = 8080, health_path = "/health", memory_mb = 4096 }]"#,
        ],
    ));
    // A region opened after August 2022 (no ELB log delivery account).
    v.push(("twilio-voice".into(), vec!["region=eu-central-2"]));
    // A FastAPI app behind a WebSocket-length ALB idle timeout.
    v.push((
        "fastapi-three-tier".into(),
        vec![
            "voice.provider=\"ringcentral\"",
            "voice.websocket_path=\"/ws\"",
        ],
    ));
    // The Kubernetes target (EKS instead of ECS), with and without Postgres.
    v.push((
        "fastapi-three-tier".into(),
        vec!["deploy.target=kubernetes"],
    ));
    v.push((
        "ringcentral-hold-hunter".into(),
        vec!["deploy.target=kubernetes"],
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
                // Providers repeat, one block per alias.
                assert!(
                    labels.is_empty() || kind == "provider" || seen.insert(key.clone()),
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
            all.contains("aws_ecs_service\" \"worker")
                || all.contains("[local.k8s_namespace, \"worker\"]"),
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
        // (The Kubernetes target has neither the load balancer nor the task
        // egress rules they concern.)
        let ignores = trivy_ignores(&files);
        assert!(
            ignores.len() >= 2 || !all.contains("resource \"aws_lb\" \"main\""),
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

#[test]
fn every_preset_renders_a_whole_terraform_tree() {
    // fmt, the HCL parse and checkov run once per preset in
    // tests/validators/validators.rs (`verify --strict`); here, that they see it all.
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let files = shipready::verify::terraform::hcl_files(&run.path().join(DIR));
        assert!(
            files.len() >= 12,
            "{preset}: the parse would see only {} files",
            files.len()
        );
    }
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

    // checkov leaves out resources whose count is 0: with CloudFront opted
    // out the load balancer's public rules exist, and must pass as they are.
    let vars = root.join(DIR).join("variables.tf");
    let text = std::fs::read_to_string(&vars).unwrap();
    let at = text
        .find("variable \"cdn_enabled\" {")
        .expect("the CloudFront switch");
    let off = text[at..].find("default     = true").unwrap() + at;
    std::fs::write(
        &vars,
        format!("{}default     = false{}", &text[..off], &text[off + 18..]),
    )
    .unwrap();
    std::fs::write(&sg, &original).unwrap();
    if let Outcome::Fail(out) = (CHECKOV.run)(root, DIR) {
        panic!("checkov fails the stack without CloudFront:\n{out}");
    }

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

// ---------------------------------------------------------------------------
// Reviewed defects: each test below fails on the templates before its fix.

/// The block that starts at the first line equal to `opening` (ending in
/// `{`), up to its matching `}`, in `terraform fmt` layout.
fn block<'a>(text: &'a str, opening: &str) -> &'a str {
    let start = text
        .find(&format!("{opening}\n"))
        .unwrap_or_else(|| panic!("no {opening:?} in\n{text}"));
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[start..=start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced block {opening:?}");
}

/// The `statement { ... }` of a policy document with this `sid`.
fn statement<'a>(policy: &'a str, sid: &str) -> &'a str {
    let at = policy
        .find(&format!("sid       = \"{sid}\""))
        .unwrap_or_else(|| panic!("no statement {sid} in\n{policy}"));
    let start = policy[..at].rfind("statement {").unwrap();
    block(&policy[start..], "statement {")
}

fn tf(run: &common::Run, file: &str) -> String {
    run.read(&format!("{DIR}/{file}"))
}

/// A multipart upload with SSE-KMS (what `aws s3 cp` does above 8 MB) needs
/// kms:Decrypt besides kms:GenerateDataKey; both are usable only through S3.
#[test]
fn backup_roles_may_finish_multipart_uploads_through_s3_only() {
    let via_s3 = "    condition {\n      test     = \"StringEquals\"\n      variable = \"kms:ViaService\"\n      values   = [\"s3.${local.region}.${local.dns_suffix}\"]\n    }";
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let backups = tf(&run, "backups.tf");
        let writer = block(
            &backups,
            "data \"aws_iam_policy_document\" \"backup_writer\" {",
        );
        let encrypt = statement(writer, "EncryptBackups");
        assert!(
            encrypt.contains("actions   = [\"kms:GenerateDataKey\", \"kms:Decrypt\"]"),
            "{preset}: {encrypt}"
        );
        assert!(encrypt.contains(via_s3), "{preset}: {encrypt}");
        // Still no way to read or delete a backup.
        let actions: Vec<&str> = writer
            .lines()
            .filter(|l| l.trim_start().starts_with("actions"))
            .collect();
        assert_eq!(actions.len(), 2, "{preset}: {writer}");
        assert!(
            actions
                .iter()
                .all(|l| !l.contains("s3:GetObject") && !l.contains("s3:Delete")),
            "{preset}: {writer}"
        );
        let reader = block(
            &backups,
            "data \"aws_iam_policy_document\" \"backup_reader\" {",
        );
        let decrypt = statement(reader, "DecryptBackups");
        assert!(decrypt.contains(via_s3), "{preset}: {decrypt}");
        let providers = tf(&run, "providers.tf");
        assert!(
            providers.contains("  dns_suffix = data.aws_partition.current.dns_suffix\n"),
            "{preset}"
        );
        // The load balancer's log bucket is SSE-S3: no KMS key to grant.
        let alb = tf(&run, "alb.tf");
        let logs = block(
            &alb,
            "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"logs\" {",
        );
        assert!(
            logs.contains("sse_algorithm = \"AES256\""),
            "{preset}: {logs}"
        );
    }
}

/// `data "aws_elb_service_account"` fails ("Unknown region") in regions
/// opened since August 2022, which deliver load balancer logs as a service
/// principal: the data source and its statement exist only in the older
/// regions it knows.
#[test]
fn alb_log_delivery_plans_in_every_region() {
    // The regions the provider's data source knows
    // (internal/service/elb/service_account_data_source.go).
    let known = [
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ca-central-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-1",
        "eu-north-1",
        "eu-south-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "me-south-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-gov-east-1",
        "us-gov-west-1",
        "us-west-1",
        "us-west-2",
    ];
    for (preset, sets) in [
        ("twilio-voice", vec![]),
        ("twilio-voice", vec!["region=eu-central-2"]),
    ] {
        let run = init(preset, &sets);
        let alb = tf(&run, "alb.tf");
        let locals = block(&alb, "locals {");
        let list = &locals[locals.find("elb_log_account_regions = [").unwrap()..];
        let list = &list[..list.find(']').unwrap()];
        let listed: BTreeSet<&str> = list
            .split('"')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            listed,
            known.into_iter().collect::<BTreeSet<_>>(),
            "{preset} {sets:?}"
        );
        let data = block(&alb, "data \"aws_elb_service_account\" \"main\" {");
        assert!(
            data.contains(
                "  count = contains(local.elb_log_account_regions, var.aws_region) ? 1 : 0\n"
            ),
            "{data}"
        );
        let policy = block(&alb, "data \"aws_iam_policy_document\" \"logs_bucket\" {");
        // The service principal always; the account only where it exists.
        let service = statement(policy, "LoadBalancerLogDelivery");
        assert!(
            service.contains("identifiers = [\"logdelivery.elasticloadbalancing.amazonaws.com\"]"),
            "{service}"
        );
        let legacy = block(policy, "  dynamic \"statement\" {");
        assert!(
            legacy.contains("for_each = data.aws_elb_service_account.main[*].arn")
                && legacy.contains("identifiers = [statement.value]")
                && legacy.contains("sid       = \"LoadBalancerLogDeliveryLegacyRegions\""),
            "{legacy}"
        );
        assert_eq!(
            alb.matches("data.aws_elb_service_account.main").count(),
            1,
            "only the dynamic statement reads the account"
        );
        for new_region in [
            "eu-central-2",
            "me-central-1",
            "il-central-1",
            "ap-southeast-4",
            "ca-west-1",
        ] {
            assert!(!listed.contains(new_region), "{new_region}");
        }
    }
}

/// TLS13-1-2-2021-06 still allows CBC suites; the "Res" policy is Mozilla
/// intermediate's closest ALB match.
#[test]
fn alb_https_listener_allows_no_cbc_suites() {
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let alb = tf(&run, "alb.tf");
        let listener = block(&alb, "resource \"aws_lb_listener\" \"https\" {");
        assert!(
            listener.contains("  ssl_policy      = \"ELBSecurityPolicy-TLS13-1-2-Res-2021-06\"\n")
                && listener.contains("mozilla/ssl-config-generator"),
            "{preset}: {listener}"
        );
    }
}

/// uvicorn's keep-alive (5 s by default) must outlast the load balancer's
/// idle timeout, or the ALB reuses closed connections and answers 502. The
/// task definition passes its own command, so the flag is there; a command
/// that sets it already is left alone, and Node commands have no such flag.
#[test]
fn uvicorn_keeps_connections_longer_than_the_alb() {
    let keep_alive = |ecs: &str| -> Vec<u32> {
        let app = block(ecs, "resource \"aws_ecs_task_definition\" \"app\" {");
        let command = app
            .lines()
            .find_map(|l| l.trim().strip_prefix("command                = "))
            .unwrap_or_else(|| panic!("no command in\n{app}"));
        let words: Vec<&str> = command
            .trim_matches(['[', ']'])
            .split(", ")
            .map(|w| w.trim_matches('"'))
            .collect();
        words
            .iter()
            .enumerate()
            .filter(|(_, w)| w.starts_with("--timeout-keep-alive"))
            .map(|(i, w)| {
                w.strip_prefix("--timeout-keep-alive=")
                    .unwrap_or_else(|| words[i + 1])
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let idle = |alb: &str| -> u32 {
        let lb = block(alb, "resource \"aws_lb\" \"main\" {");
        lb.lines()
            .find_map(|l| l.trim().strip_prefix("idle_timeout = "))
            .unwrap()
            .parse()
            .unwrap()
    };
    for (preset, sets) in [
        ("fastapi-three-tier", vec![]),
        (
            "fastapi-three-tier",
            vec![
                "voice.provider=\"ringcentral\"",
                "voice.websocket_path=\"/ws\"",
            ],
        ),
    ] {
        let run = init(preset, &sets);
        let (ecs, alb) = (tf(&run, "ecs.tf"), tf(&run, "alb.tf"));
        let found = keep_alive(&ecs);
        assert_eq!(found.len(), 1, "{preset} {sets:?}: {found:?}");
        assert!(
            found[0] > idle(&alb),
            "{preset} {sets:?}: keep-alive {} s, ALB idle timeout {} s",
            found[0],
            idle(&alb)
        );
    }
    let run = init(
        "fastapi-three-tier",
        &["service.start_command=[\"uvicorn\", \"app.main:app\", \"--timeout-keep-alive=90\"]"],
    );
    assert_eq!(
        keep_alive(&tf(&run, "ecs.tf")),
        [90],
        "the team's own value"
    );
    let run = common::init_preset("twilio-voice");
    assert!(
        keep_alive(&tf(&run, "ecs.tf")).is_empty(),
        "node has no such flag"
    );
}

/// An AWS account has one GitHub OIDC provider: only the first environment
/// creates it, so a second environment in the same account can apply.
#[test]
fn only_the_first_environment_creates_the_github_oidc_provider() {
    for (preset, sets) in variants() {
        let run = init(&preset, &sets);
        let label = format!("{preset} {sets:?}");
        let lock: toml::Table = run.read("shipready.toml").parse().unwrap();
        let envs: Vec<String> = lock
            .get("profile")
            .and_then(|p| p.get("aws"))
            .and_then(|a| a.get("environments"))
            .and_then(|e| e.as_array())
            .unwrap_or_else(|| panic!("{label}: no aws.environments in the lock"))
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        for (i, env) in envs.iter().enumerate() {
            let text = tf(&run, &format!("environments/{env}.tfvars"));
            let want = if i == 0 { "true" } else { "false" };
            assert!(
                text.contains(&format!("\ncreate_github_oidc_provider = {want}\n")),
                "{label}: {env}.tfvars\n{text}"
            );
            if i > 0 {
                assert!(
                    text.contains("has an AWS account of its own"),
                    "{label}: {env}.tfvars says when to set true"
                );
            }
        }
        let readme = tf(&run, "README.md");
        assert!(
            readme.contains(&format!(
                "Apply `{}` before the other environments",
                envs[0]
            )),
            "{label}"
        );
    }
}

/// The voice provider's secret is created empty, and tasks started without
/// its keys fail: the README has it created and filled before the full
/// apply, by the name the Terraform gives it.
#[test]
fn readme_fills_the_provider_secret_before_the_full_apply() {
    for (preset, sets) in variants() {
        let run = init(&preset, &sets);
        let label = format!("{preset} {sets:?}");
        let readme = tf(&run, "README.md");
        // The provider secret is declared beside the compute: ecs.tf, or
        // eks_identity.tf on the Kubernetes target.
        let compute = if run.path().join("infra/terraform/ecs.tf").exists() {
            "ecs.tf"
        } else {
            "eks_identity.tf"
        };
        let ecs = tf(&run, compute);
        let steps = &readme[readme.find("First apply of an environment").unwrap()..];
        let steps = &steps[..steps.find("\n\n## ").unwrap()];
        let voice = ecs.contains("resource \"aws_secretsmanager_secret\" \"app\" {");
        // On ECS the full apply starts the tasks, so the secret is made by a
        // targeted apply and filled before it. On EKS nothing runs the app
        // until the deploy workflow, so the full apply makes the secret and
        // it is filled before the controllers and the first deploy.
        let (filled_before, targeted) = if compute == "ecs.tf" {
            let targeted = steps
                .lines()
                .find(|l| l.contains("-target="))
                .unwrap_or_else(|| panic!("{label}: no targeted apply\n{steps}"));
            let gh_set = sets.iter().any(|s| s.starts_with("repository="));
            assert_eq!(
                targeted.contains("-var github_repository=<owner/name>"),
                !gh_set,
                "{label}: the targeted apply needs every variable without a default: {targeted}"
            );
            (
                steps
                    .find("Run the full plan and apply")
                    .unwrap_or_else(|| panic!("{label}\n{steps}")),
                targeted,
            )
        } else {
            let controllers = steps
                .find("install the controllers")
                .unwrap_or_else(|| panic!("{label}\n{steps}"));
            (controllers, "-target=aws_secretsmanager_secret.app")
        };
        match steps.find("put-secret-value") {
            Some(put) if voice => {
                assert!(
                    put < filled_before,
                    "{label}: credentials filled too late\n{steps}"
                );
                assert!(
                    targeted.contains("-target=aws_secretsmanager_secret.app"),
                    "{label}: {targeted}"
                );
                // The name the README uses is the one the secret gets.
                let secret = block(&ecs, "resource \"aws_secretsmanager_secret\" \"app\" {");
                assert!(secret.contains("name                    = \"${local.name}/app\""));
                let providers = tf(&run, "providers.tf");
                let service = providers
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("service    = "))
                    .unwrap()
                    .trim_matches('"');
                assert!(
                    providers.contains("name       = \"${local.service}-${var.environment}\""),
                    "{label}"
                );
                assert!(
                    steps.contains(&format!("--secret-id {service}-$ENV/app ")),
                    "{label}\n{steps}"
                );
            }
            None if !voice => {}
            other => panic!("{label}: voice {voice}, put-secret-value at {other:?}\n{steps}"),
        }
    }
}

/// Letters and digits only: `#` or `&` in the token would need
/// percent-encoding in a redis:// URL.
#[test]
fn redis_auth_token_is_alphanumeric() {
    let mut checked = 0;
    for (preset, sets) in variants() {
        let run = init(&preset, &sets);
        let redis = shipready::core::lock::Lock::read(run.path())
            .unwrap()
            .expect("a lock file")
            .profile
            .redis
            .enabled;
        let cache = std::fs::read_to_string(run.path().join(DIR).join("elasticache.tf")).ok();
        assert_eq!(
            cache.is_some(),
            redis,
            "{preset} {sets:?}: elasticache.tf is there exactly when Redis is"
        );
        let Some(cache) = cache else {
            continue;
        };
        checked += 1;
        let password = block(
            &cache,
            "data \"aws_secretsmanager_random_password\" \"redis_auth\" {",
        );
        assert!(
            password.contains("\n  exclude_punctuation = true\n")
                && password.contains("\n  include_space       = false\n"),
            "{preset} {sets:?}: {password}"
        );
        let length: u32 = password
            .lines()
            .find_map(|l| l.trim().strip_prefix("password_length     = "))
            .unwrap()
            .parse()
            .unwrap();
        // ElastiCache takes 16 to 128; 64 of 62 symbols is about 380 bits.
        assert!((64..=128).contains(&length), "{password}");
    }
    assert!(checked > 0, "no variant with Redis");
}

/// ECS runs a container health check with exec, past the image's
/// entrypoint, so a check that needs the entrypoint's REDIS_URL (built from
/// REDIS_PASSWORD) must call it itself, as the compose file does.
#[test]
fn the_ecs_celery_health_check_goes_through_the_entrypoint() {
    let run = init("fastapi-three-tier", &[]);
    let ecs = run.read(&format!("{DIR}/ecs.tf"));
    let check = ecs
        .lines()
        .find(|l| l.contains("inspect ping"))
        .expect("a Celery health check in ecs.tf");
    assert!(
        check.contains("\"docker-entrypoint.sh celery -A "),
        "the check bypasses the entrypoint: {check}"
    );
}

/// /metrics is not reachable through the load balancer in any spelling:
/// the WAF rule's pattern, after the rule's own transformations (percent-
/// decoding, then lower case), matches every spelling of the path and
/// nothing else the app serves. Python's `re` stands in for WAF's regex
/// engine; the pattern uses only syntax both share.
#[test]
fn metrics_path_is_refused_at_the_edge_in_every_spelling() {
    let run = common::init_preset("twilio-voice");
    let alb = tf(&run, "alb.tf");
    let rule = block(&alb, "  rule {\n    name     = \"metrics-not-public\"");
    assert!(rule.contains("response_code = 404"), "{rule}");
    let urldecode = rule.find("\"URL_DECODE\"").expect("percent-decoding");
    let lowercase = rule.find("\"LOWERCASE\"").expect("case folding");
    assert!(urldecode < lowercase, "{rule}");
    let pattern = rule
        .lines()
        .find_map(|l| l.trim().strip_prefix("regex_string = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let blocked = [
        "/metrics",
        "/metrics/",
        "/Metrics",
        "/METRICS/",
        "/MeTrIcS",
        "/%6detrics",
        "/metrics/x",
        "/%4D%45TRICS",
    ];
    let allowed = [
        "/",
        "/health",
        "/ready",
        "/metricsx",
        "/api/metrics",
        "/twilio/voice",
    ];
    let script = r#"
import re, sys, urllib.parse
pattern, paths = sys.argv[1], sys.argv[2:]
for p in paths:
    print(p, bool(re.search(pattern, urllib.parse.unquote(p).lower())))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &pattern])
        .args(blocked.iter().chain(allowed.iter()))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in text.lines() {
        let (path, matched) = line.split_once(' ').unwrap();
        assert_eq!(
            matched == "True",
            blocked.contains(&path),
            "{path}: pattern {pattern}"
        );
    }
    assert_eq!(text.lines().count(), blocked.len() + allowed.len());
    // And the listener rule answers 404 for the common spellings itself.
    let listener = block(
        &alb,
        "resource \"aws_lb_listener_rule\" \"metrics_not_public\" {",
    );
    assert!(listener.contains("status_code  = \"404\""), "{listener}");
    assert!(listener.contains("\"/metrics/*\""), "{listener}");
}
