//! The GitHub Actions workflows, for every preset: the real linters pass
//! (actionlint with shellcheck, yamllint), and the hardening rules a
//! reviewer asks of a workflow hold (pinned actions, least permissions,
//! no injectable expressions), checked on the parsed YAML. Each hardening check is
//! also shown to fail on a workflow that breaks its rule.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{init_preset, init_preset_with, presets, require_tool, Run, DOMAIN};
use serde_norway::Value;
use shipready::verify::{Finding, Outcome};

/// Stricter than the generated `.yamllint.yaml`: long lines are errors.
const YAMLLINT_CONFIG: &str = "{extends: default, rules: {line-length: {max: 160}, \
     truthy: {check-keys: false}, document-start: disable}}";

const CHECKOUT: &str = "actions/checkout@";
const AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials@";

struct Workflow {
    path: String,
    text: String,
}

/// Every workflow file the run generated.
fn workflows(run: &Run) -> Vec<Workflow> {
    let found: Vec<Workflow> = run
        .files()
        .into_iter()
        .filter(|p| {
            p.starts_with(".github/workflows/") && (p.ends_with(".yml") || p.ends_with(".yaml"))
        })
        .map(|path| Workflow {
            text: run.read(&path),
            path,
        })
        .collect();
    for name in ["ci.yml", "deploy.yml", "terraform.yml"] {
        assert!(
            found
                .iter()
                .any(|w| w.path == format!(".github/workflows/{name}")),
            "{name} was not generated"
        );
    }
    found
}

fn parse(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key).and_then(Value::as_str)
}

fn jobs(doc: &Value) -> Vec<(String, &Value)> {
    get(doc, "jobs")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v))
                .collect()
        })
        .unwrap_or_default()
}

fn steps(job: &Value) -> Vec<&Value> {
    get(job, "steps")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

fn is_hex40(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// `owner/repo[/path]@<40 hex>`; a local action (`./x`) is in the repo.
fn is_pinned(uses: &str) -> bool {
    if uses.starts_with("./") {
        return true;
    }
    if let Some(image) = uses.strip_prefix("docker://") {
        return image
            .split_once("@sha256:")
            .is_some_and(|(_, d)| d.len() == 64 && d.bytes().all(|c| c.is_ascii_hexdigit()));
    }
    match uses.split_once('@') {
        Some((name, sha)) => {
            name.split('/').filter(|s| !s.is_empty()).count() >= 2 && is_hex40(sha)
        }
        None => false,
    }
}

/// Expressions (`${{ ... }}`) in a string.
fn expressions(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start..];
        let end = after.find("}}").map_or(after.len(), |e| e + 2);
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

/// Contexts an attacker can write: an expression with one of these inside a
/// script is a template injection.
const UNTRUSTED: &[&str] = &[
    "github.event",
    "github.head_ref",
    "inputs.",
    "github.event_name",
];

/// Every broken hardening rule of one workflow, as readable sentences.
fn hardening_problems(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let doc = parse(text);

    let lowered = text.to_ascii_lowercase();
    for key in [
        "aws_access_key",
        "aws-access-key",
        "aws_secret_access_key",
        "aws-secret-access-key",
    ] {
        if lowered.contains(key) {
            problems.push(format!(
                "{name}: mentions {key}: AWS is reached through OIDC only"
            ));
        }
    }

    // Workflow-level permissions: read-only.
    match get(&doc, "permissions") {
        None => problems.push(format!("{name}: no top-level permissions")),
        Some(p) => match p.as_mapping() {
            Some(m) => {
                for (k, v) in m {
                    let (k, v) = (k.as_str().unwrap_or("?"), v.as_str().unwrap_or("?"));
                    if !(k == "contents" && v == "read") {
                        problems.push(format!(
                            "{name}: top-level permissions grant {k}: {v} (only contents: read)"
                        ));
                    }
                }
            }
            None => problems.push(format!(
                "{name}: top-level permissions is {p:?}, not a map (write-all/read-all are too wide)"
            )),
        },
    }

    // Every text line that `uses:` an action carries the release as a comment.
    for line in text.lines() {
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(value) = t.strip_prefix("uses:") {
            let value = value.trim();
            let (reference, comment) = value.split_once('#').unwrap_or((value, ""));
            if !reference.trim().starts_with("./") && comment.trim().is_empty() {
                problems.push(format!("{name}: `{}` has no release comment", line.trim()));
            }
        }
    }

    // Triggers that run with the repository's secrets on an event someone
    // else controls (a fork's pull request, another run).
    if let Some(on) = get(&doc, "on").and_then(Value::as_mapping) {
        for trigger in ["pull_request_target", "workflow_run"] {
            if on.contains_key(trigger) {
                problems.push(format!("{name}: triggered by {trigger}"));
            }
        }
    }

    // Steps run as `bash -eo pipefail` (GitHub's implicit bash has no pipefail).
    let shell = get(&doc, "defaults")
        .and_then(|d| get(d, "run"))
        .and_then(|r| str_of(r, "shell"));
    if shell != Some("bash") {
        problems.push(format!(
            "{name}: no top-level defaults.run.shell: bash (pipefail)"
        ));
    }

    let top_concurrency = get(&doc, "concurrency").is_some();
    let all_jobs = jobs(&doc);
    if all_jobs.is_empty() {
        problems.push(format!("{name}: no jobs"));
    }
    for (id, job) in &all_jobs {
        let mut uses_aws = false;
        if let Some(u) = str_of(job, "uses") {
            if !is_pinned(u) {
                problems.push(format!(
                    "{name}: job {id} uses {u}, not pinned to a commit SHA"
                ));
            }
        }
        if get(job, "secrets").and_then(Value::as_str) == Some("inherit") {
            problems.push(format!(
                "{name}: job {id} passes secrets: inherit (pass each secret by name)"
            ));
        }
        if !top_concurrency && get(job, "concurrency").is_none() {
            problems.push(format!(
                "{name}: job {id} has no concurrency group (nor has the workflow)"
            ));
        }
        for step in steps(job) {
            if let Some(u) = str_of(step, "uses") {
                if !is_pinned(u) {
                    problems.push(format!(
                        "{name}: job {id} uses {u}, not pinned to a 40-hex commit SHA"
                    ));
                }
                if u.starts_with(CHECKOUT) {
                    let persist = get(step, "with").and_then(|w| get(w, "persist-credentials"));
                    let off = matches!(persist, Some(Value::Bool(false)))
                        || persist.and_then(Value::as_str) == Some("false");
                    if !off {
                        problems.push(format!(
                            "{name}: job {id} checks out without persist-credentials: false"
                        ));
                    }
                }
                if u.starts_with(AWS_CREDENTIALS) {
                    uses_aws = true;
                }
            }
            if let Some(script) = str_of(step, "run") {
                for e in expressions(script) {
                    let kind = if UNTRUSTED.iter().any(|u| e.contains(u)) {
                        "an untrusted expression"
                    } else {
                        "an expression"
                    };
                    problems.push(format!(
                        "{name}: job {id} expands {kind} {e} inside run: (pass it through env:)"
                    ));
                }
            }
        }
        match get(job, "permissions") {
            None => problems.push(format!("{name}: job {id} has no permissions")),
            Some(p) => match p.as_mapping() {
                None => problems.push(format!("{name}: job {id} permissions {p:?} are not a map")),
                Some(m) => {
                    let mut id_token = false;
                    for (k, v) in m {
                        let (k, v) = (k.as_str().unwrap_or("?"), v.as_str().unwrap_or("?"));
                        match (k, v) {
                            (_, "read" | "none") => {}
                            ("id-token", "write") => id_token = true,
                            _ => problems.push(format!("{name}: job {id} widens {k}: {v}")),
                        }
                    }
                    if id_token && !uses_aws {
                        problems.push(format!(
                            "{name}: job {id} has id-token: write but does not assume an AWS role"
                        ));
                    }
                    if uses_aws && !id_token {
                        problems.push(format!(
                            "{name}: job {id} assumes an AWS role without id-token: write"
                        ));
                    }
                }
            },
        }
    }
    problems
}

fn yamllint(root: &Path, file: &str) {
    let out = Command::new(require_tool("yamllint"))
        .current_dir(root)
        .args(["--strict", "--format", "parsable", "-d", YAMLLINT_CONFIG])
        .arg(file)
        .output()
        .expect("yamllint runs");
    assert!(
        out.status.success(),
        "yamllint {file}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// yamllint with the CI's own config; actionlint (and verify's yamllint)
/// on every preset's workflows runs once, in tests/validators/validators.rs.
#[test]
fn every_workflow_of_every_preset_passes_yamllint() {
    for preset in presets() {
        let run = init_preset(&preset);
        for w in workflows(&run) {
            yamllint(run.path(), &w.path);
        }
    }
}

/// zizmor through `shipready verify`'s own validator (src/verify/workflows.rs:
/// offline, default persona), failing on any finding.
fn zizmor(root: &Path, file: &str) {
    require_tool("zizmor");
    let findings = findings_of(root, &[file], "zizmor");
    assert_eq!(findings.len(), 1, "{file}: one zizmor check");
    assert!(
        matches!(findings[0].result, Ok(Outcome::Pass)),
        "zizmor {file}:\n{:?}",
        findings[0].result
    );
}

/// What one validator of `shipready verify` reports over `paths`.
fn findings_of(root: &Path, paths: &[&str], validator: &str) -> Vec<Finding> {
    shipready::verify::check_only(root, paths, &[validator])
}

#[test]
fn every_workflow_of_every_preset_passes_zizmor() {
    let mut runs: Vec<(String, Run)> = presets()
        .into_iter()
        .map(|p| {
            let run = init_preset(&p);
            (p, run)
        })
        .collect();
    // Deploy chains with no environment before production, and with two.
    for envs in ["[\"production\"]", "[\"dev\", \"qa-eu\", \"production\"]"] {
        let set = format!("aws.environments={envs}");
        runs.push((set.clone(), init_preset_with("twilio-voice", &[&set])));
    }
    let mut chains_checked = 0;
    for (label, run) in &runs {
        let found = workflows(run);
        assert!(
            found
                .iter()
                .any(|w| w.path == ".github/workflows/loadtest.yml"),
            "{label}: no loadtest.yml"
        );
        // The presets as rendered pass zizmor in tests/validators/validators.rs
        // (verify --strict); here only the other deploy chains.
        if label.starts_with("aws.environments=") {
            for w in found {
                zizmor(run.path(), &w.path);
            }
            chains_checked += 1;
        }
    }
    assert_eq!(chains_checked, 2, "both other deploy chains ran zizmor");
}

#[test]
fn verify_runs_zizmor_on_every_workflow() {
    require_tool("zizmor");
    let run = init_preset("twilio-voice");
    let files = run.files();
    let paths: Vec<&str> = files.iter().map(String::as_str).collect();
    let findings = findings_of(run.path(), &paths, "zizmor");
    let targets: Vec<&str> = findings.iter().map(|f| f.target.as_str()).collect();
    let mut want: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| p.starts_with(".github/workflows/"))
        .collect();
    want.sort();
    let mut got = targets.clone();
    got.sort();
    assert_eq!(got, want, "one zizmor check per workflow");
    for f in &findings {
        assert!(
            matches!(f.result, Ok(Outcome::Pass)),
            "{}: {:?}",
            f.target,
            f.result
        );
    }

    // And it fails, with zizmor's report, on the trigger loadtest.yml used to
    // have.
    let file = ".github/workflows/loadtest.yml";
    let text = run.read(file);
    let broken = text.replacen(
        "  workflow_call:\n",
        "  workflow_run:\n    workflows:\n      - Deploy\n    types:\n      - completed\n  workflow_call:\n",
        1,
    );
    assert_ne!(broken, text);
    std::fs::write(run.path().join(file), broken).unwrap();
    let result = findings_of(run.path(), &[file], "zizmor")
        .pop()
        .expect("a zizmor check")
        .result;
    match result {
        Ok(Outcome::Fail(out)) => {
            assert!(out.contains("dangerous-triggers"), "{out}")
        }
        other => panic!("zizmor passed a workflow_run trigger: {other:?}"),
    }
}

#[test]
fn verify_runs_actionlint_on_every_workflow() {
    require_tool("actionlint");
    require_tool("shellcheck");
    let run = init_preset("twilio-voice");
    let files = run.files();
    let paths: Vec<&str> = files.iter().map(String::as_str).collect();
    let findings = findings_of(run.path(), &paths, "actionlint");
    let targets: Vec<&str> = findings.iter().map(|f| f.target.as_str()).collect();
    for name in ["ci.yml", "deploy.yml", "terraform.yml"] {
        assert!(
            targets.contains(&format!(".github/workflows/{name}").as_str()),
            "verify did not lint {name}: {targets:?}"
        );
    }
    for f in &findings {
        assert!(
            matches!(f.result, Ok(Outcome::Pass)),
            "{}: {:?}",
            f.target,
            f.result
        );
    }

    // And it reports a broken workflow.
    let broken = run.path().join(".github/workflows/ci.yml");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        text.replace("runs-on: ubuntu-24.04", "runs-on: ${{ nope.x }}"),
    )
    .unwrap();
    let failed = findings_of(run.path(), &[".github/workflows/ci.yml"], "actionlint")
        .into_iter()
        .any(|f| matches!(f.result, Ok(Outcome::Fail(_))));
    assert!(
        failed,
        "actionlint passed a workflow with an undefined context"
    );
}

#[test]
fn every_workflow_of_every_preset_is_hardened() {
    for preset in presets() {
        let run = init_preset(&preset);
        for w in workflows(&run) {
            let problems = hardening_problems(&w.path, &w.text);
            assert!(problems.is_empty(), "{preset}:\n{}", problems.join("\n"));
        }
    }
}

/// Each rule, broken on purpose, is reported: the checks above can fail.
#[test]
fn the_hardening_checks_catch_each_violation() {
    let run = init_preset("twilio-voice");
    let deploy = run.read(".github/workflows/deploy.yml");
    let ci = run.read(".github/workflows/ci.yml");
    assert!(hardening_problems("deploy.yml", &deploy).is_empty());

    let expect = |what: &str, text: &str, needle: &str| {
        let problems = hardening_problems(what, text);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{what}: expected a problem containing {needle:?}, got {problems:?}"
        );
    };

    // A tag instead of a commit.
    let sha = "de0fac2e4500dabe0009e67214ff5f5447ce83dd";
    assert!(ci.contains(sha));
    expect("tag", &ci.replacen(sha, "v6", 1), "not pinned");
    // A short SHA.
    expect("short sha", &ci.replacen(sha, &sha[..12], 1), "not pinned");
    // No release comment.
    expect(
        "comment",
        &ci.replacen("  # v6.0.2", "", 1),
        "no release comment",
    );
    // The default shell without pipefail.
    let no_shell = ci.replacen("    shell: bash\n", "", 1);
    assert_ne!(no_shell, ci);
    expect("no shell", &no_shell, "pipefail");
    // No top-level permissions, or a write-all one.
    let no_top = ci.replacen("permissions:\n  contents: read\n", "", 1);
    assert_ne!(no_top, ci);
    expect("no top", &no_top, "no top-level permissions");
    expect(
        "write-all",
        &ci.replacen(
            "permissions:\n  contents: read\n",
            "permissions: write-all\n",
            1,
        ),
        "not a map",
    );
    // A job without permissions, and one widening beyond id-token.
    let job_perm = "    permissions:\n      contents: read\n";
    expect(
        "job without",
        &ci.replacen(job_perm, "", 1),
        "has no permissions",
    );
    expect(
        "job widens",
        &ci.replacen(job_perm, "    permissions:\n      contents: write\n", 1),
        "widens contents: write",
    );
    // id-token where no AWS role is assumed.
    expect(
        "id-token",
        &ci.replacen(
            job_perm,
            "    permissions:\n      contents: read\n      id-token: write\n",
            1,
        ),
        "does not assume an AWS role",
    );
    // AWS access keys, in any spelling.
    expect(
        "access key",
        &deploy.replacen(
            "role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
            "aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}",
            1,
        ),
        "mentions",
    );
    expect(
        "access key env",
        &format!("{ci}# AWS_ACCESS_KEY_ID\n"),
        "mentions aws_access_key",
    );
    // Untrusted input expanded inside a script.
    for injected in [
        "${{ github.event.pull_request.title }}",
        "${{ github.head_ref }}",
        "${{ inputs.ref }}",
    ] {
        let text = ci.replacen("run: npm test", &format!("run: echo \"{injected}\""), 1);
        assert_ne!(text, ci);
        expect("injection", &text, "an untrusted expression");
    }
    // Checkout keeping the token.
    expect(
        "persist",
        &ci.replacen("persist-credentials: false", "persist-credentials: true", 1),
        "persist-credentials",
    );
    // No concurrency anywhere.
    let no_concurrency = ci.replacen(
        "concurrency:\n  group: ci-${{ github.ref }}\n  cancel-in-progress: ${{ github.event_name == 'pull_request' }}\n",
        "",
        1,
    );
    assert_ne!(no_concurrency, ci);
    expect("concurrency", &no_concurrency, "no concurrency group");
    // A trigger that runs on someone else's event.
    for trigger in [
        "workflow_run:\n    workflows: [CI]\n    types: [completed]",
        "pull_request_target:",
    ] {
        let text = ci.replacen("on:\n", &format!("on:\n  {trigger}\n"), 1);
        assert_ne!(text, ci);
        expect("trigger", &text, "triggered by");
    }
    // Every secret handed to a called workflow.
    let secret = "      STAGING_TWILIO_AUTH_TOKEN: ${{ secrets.STAGING_TWILIO_AUTH_TOKEN }}\n";
    let inherit = deploy.replacen(
        &format!("    secrets:\n{secret}"),
        "    secrets: inherit\n",
        1,
    );
    assert_ne!(inherit, deploy);
    expect("inherit", &inherit, "secrets: inherit");
}

/// All pins are made in templates/_partials/actions.tera: no workflow
/// template names an action reference of its own, and every pin there is a
/// 40-hex commit with its release in a comment.
#[test]
fn action_pins_live_in_one_partial() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let partial = std::fs::read_to_string(root.join("_partials/actions.tera")).unwrap();
    let mut pinned = Vec::new();
    for line in partial
        .lines()
        .filter(|l| l.contains("macro ") && l.contains('@'))
    {
        let body = line.split("%}").nth(1).unwrap().split("{%").next().unwrap();
        let (reference, comment) = body.split_once("  # ").expect("a release comment");
        assert!(is_pinned(reference), "{reference} is not a commit pin");
        assert!(
            comment.starts_with('v'),
            "{reference}: release comment {comment:?}"
        );
        pinned.push(reference.to_string());
    }
    assert!(pinned.len() >= 6, "{pinned:?}");

    let dir = root.join(".github/workflows");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let t = line.trim_start().trim_start_matches("- ");
            if let Some(v) = t.strip_prefix("uses:") {
                assert!(
                    v.trim().starts_with("{{ actions::") || v.trim().starts_with("./"),
                    "{}: `{}` does not take its pin from _partials/actions.tera",
                    path.display(),
                    line.trim()
                );
            }
            assert!(
                !line
                    .split('@')
                    .skip(1)
                    .any(|s| s.len() >= 40 && is_hex40(&s[..40])),
                "{}: a literal pin `{}`",
                path.display(),
                line.trim()
            );
        }
    }

    // The rendered workflows use exactly those pins.
    let run = init_preset("fastapi-three-tier");
    for w in workflows(&run) {
        for line in w.text.lines() {
            if let Some(v) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
            {
                let reference = v.split('#').next().unwrap().trim();
                if reference.starts_with("./") {
                    continue;
                }
                assert!(
                    pinned.iter().any(|p| p == reference),
                    "{}: {reference}",
                    w.path
                );
            }
        }
    }
}

fn lock_shipready_version(run: &Run) -> String {
    let lock: toml::Value = toml::from_str(&run.read("shipready.toml")).unwrap();
    lock.get("profile")
        .and_then(|p| p.get("ci"))
        .and_then(|c| c.get("shipready_version"))
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no profile.ci.shipready_version in the lock"))
}

fn run_scripts(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|s| str_of(s, "run"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn job<'a>(doc: &'a Value, id: &str) -> Option<&'a Value> {
    get(doc, "jobs").and_then(|j| get(j, id))
}

fn uses_any(job: &Value, prefix: &str) -> bool {
    steps(job)
        .iter()
        .any(|s| str_of(s, "uses").is_some_and(|u| u.starts_with(prefix)))
}

#[test]
fn ci_matches_each_profile() {
    for preset in presets() {
        let run = init_preset(&preset);
        let text = run.read(".github/workflows/ci.yml");
        let ci = parse(&text);
        let test = job(&ci, "test").expect("a test job");
        let matrix = get(get(test, "strategy").unwrap(), "matrix").unwrap();
        // The service's runtime, not the Dockerfile's first FROM: a FastAPI
        // image builds its front end in a node stage.
        let node = common::profile_of(&preset).service.runtime == shipready::profile::Runtime::Node;
        let (axis, want) = if node {
            ("node", ["20", "22"])
        } else {
            ("python", ["3.12", "3.13"])
        };
        let versions: Vec<&str> = get(matrix, axis)
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{preset}: no {axis} matrix"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for v in want {
            assert!(
                versions.contains(&v),
                "{preset}: {axis} matrix {versions:?}"
            );
        }
        let lock: toml::Value = toml::from_str(&run.read("shipready.toml")).unwrap();
        let has = |section: &str| {
            lock.get("profile")
                .and_then(|p| p.get(section))
                .and_then(|s| s.get("enabled"))
                .and_then(toml::Value::as_bool)
                .unwrap_or_else(|| panic!("{preset}: {section}.enabled is not in the lock"))
        };
        let services = get(test, "services");
        for store in ["postgres", "redis"] {
            assert_eq!(
                services.and_then(|s| get(s, store)).is_some(),
                has(store),
                "{preset}: {store} service container"
            );
        }
        assert_eq!(
            job(&ci, "alert-rules").is_some(),
            has("monitoring"),
            "{preset}"
        );
        if has("monitoring") {
            let script = run_scripts(job(&ci, "alert-rules").unwrap());
            for check in [
                "check rules rules/*.yml",
                "test rules tests/*.yml",
                "check config prometheus.yml",
                "amtool \"$ALERTMANAGER_IMAGE\" check-config alertmanager.yml",
            ] {
                assert!(script.contains(check), "{preset}: CI does not run {check}");
            }
        }

        let image = job(&ci, "image").expect("an image job");
        assert!(uses_any(image, "hadolint/hadolint-action@"), "{preset}");
        let trivy = steps(image)
            .into_iter()
            .find(|s| {
                str_of(s, "uses").is_some_and(|u| u.starts_with("aquasecurity/trivy-action@"))
            })
            .expect("a trivy scan");
        let with = get(trivy, "with").unwrap();
        assert_eq!(str_of(with, "severity"), Some("HIGH,CRITICAL"));
        assert_eq!(str_of(with, "exit-code"), Some("1"));

        let infra = run_scripts(job(&ci, "infrastructure").expect("an infrastructure job"));
        assert!(
            infra.contains("terraform fmt -check -recursive"),
            "{preset}"
        );
        assert!(
            infra.contains("checkov --directory infra/terraform"),
            "{preset}"
        );

        let drift = job(&ci, "drift").expect("a drift job");
        let script = run_scripts(drift);
        assert!(
            script.contains("cargo install --locked --version \"$SHIPREADY_VERSION\" shipready")
        );
        assert!(script.contains("shipready diff --format json"));
        let version = get(drift, "env").and_then(|e| str_of(e, "SHIPREADY_VERSION"));
        assert_eq!(
            version,
            Some(lock_shipready_version(&run).as_str()),
            "{preset}"
        );
    }

    // Monitoring off: no promtool job.
    let run = init_preset_with("node-dashboard", &["monitoring.enabled=false"]);
    let ci = parse(&run.read(".github/workflows/ci.yml"));
    assert!(job(&ci, "alert-rules").is_none());
    // A runtime outside the usual pair is tested too.
    let run = init_preset_with("node-dashboard", &["service.runtime_version=\"24\""]);
    let ci = parse(&run.read(".github/workflows/ci.yml"));
    let m = get(
        get(job(&ci, "test").unwrap(), "strategy").unwrap(),
        "matrix",
    )
    .unwrap();
    let versions: Vec<&str> = get(m, "node")
        .unwrap()
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(versions, ["20", "22", "24"]);
}

fn environments(run: &Run) -> Vec<String> {
    let lock: toml::Value = toml::from_str(&run.read("shipready.toml")).unwrap();
    lock.get("profile")
        .and_then(|p| p.get("aws"))
        .and_then(|a| a.get("environments"))
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| vec!["staging".into(), "production".into()])
}

fn needs(job: &Value) -> Vec<String> {
    match get(job, "needs") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn env_name(job: &Value) -> Option<String> {
    match get(job, "environment") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ Value::Mapping(_)) => str_of(v, "name").map(str::to_string),
        _ => None,
    }
}

fn check_deploy(run: &Run, label: &str) {
    let envs = environments(run);
    let lock: toml::Value = toml::from_str(&run.read("shipready.toml")).unwrap();
    let profile = lock.get("profile").unwrap();
    let name = profile["service"]["name"].as_str().unwrap().to_string();
    let pg = &profile.get("postgres");
    let migrate: Vec<String> = pg
        .filter(|p| p.get("enabled").and_then(toml::Value::as_bool) == Some(true))
        .and_then(|p| p.get("migrate_command"))
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();

    let doc = parse(&run.read(".github/workflows/deploy.yml"));
    let build = job(&doc, "build").expect("a build job");
    let main = lock["profile"]["ci"]["main_branch"].as_str().unwrap();
    assert_eq!(
        str_of(build, "if"),
        Some(format!("github.ref == 'refs/heads/{main}'").as_str()),
        "{label}: only the main branch deploys"
    );
    // Built once, with no credentials, and handed to every environment.
    assert!(
        !uses_any(build, AWS_CREDENTIALS),
        "{label}: the build holds no AWS role"
    );
    assert!(run_scripts(build).contains("docker build"), "{label}");
    assert!(uses_any(build, "actions/upload-artifact@"), "{label}");

    let ids: Vec<String> = jobs(&doc).into_iter().map(|(id, _)| id).collect();
    let mut expected = vec!["build".to_string()];
    expected.extend(envs.iter().map(|e| format!("deploy-{e}")));
    // The load test follows the last environment before production.
    let staged = envs.len().checked_sub(2).map(|i| envs[i].as_str());
    if staged.is_some() {
        expected.push("loadtest".to_string());
    }
    assert_eq!(ids, expected, "{label}: deploy jobs in promotion order");
    check_loadtest_call(run, &doc, staged, label);

    for (i, e) in envs.iter().enumerate() {
        let j = job(&doc, &format!("deploy-{e}")).unwrap();
        let mut want_needs = vec!["build".to_string()];
        if i > 0 {
            want_needs.push(format!("deploy-{}", envs[i - 1]));
        }
        assert_eq!(needs(j), want_needs, "{label}: {e}");
        assert_eq!(
            env_name(j).as_deref(),
            Some(e.as_str()),
            "{label}: {e} environment"
        );
        let conc = get(j, "concurrency").expect("job concurrency");
        assert_eq!(str_of(conc, "group"), Some(format!("deploy-{e}").as_str()));
        assert_eq!(get(conc, "cancel-in-progress"), Some(&Value::Bool(false)));
        // Names as infra/terraform creates them.
        let env = get(j, "env").unwrap();
        assert_eq!(str_of(env, "CLUSTER"), Some(format!("{name}-{e}").as_str()));
        assert_eq!(
            str_of(env, "ECR_REPOSITORY"),
            Some(format!("{name}-{e}").as_str())
        );
        assert_eq!(str_of(env, "APP_SERVICE"), Some("app"));
        assert!(
            uses_any(j, "actions/download-artifact@"),
            "{label}: {e} gets the built image"
        );
        assert!(run_scripts(j).contains("docker push"), "{label}: {e}");
        let base = str_of(env, "BASE_URL").unwrap();
        if i + 1 == envs.len() {
            assert_eq!(
                base,
                format!("https://{DOMAIN}"),
                "{label}: production smoke test"
            );
        } else {
            let var = format!(
                "${{{{ vars.{}_URL || 'https://{e}.{DOMAIN}' }}}}",
                e.to_uppercase().replace('-', "_")
            );
            assert_eq!(base, var, "{label}: {e} smoke test target");
        }
        assert!(uses_any(j, AWS_CREDENTIALS));
        let role = steps(j)
            .into_iter()
            .find_map(|s| get(s, "with").and_then(|w| str_of(w, "role-to-assume")));
        assert_eq!(role, Some("${{ vars.AWS_DEPLOY_ROLE_ARN }}"));

        let names: Vec<&str> = steps(j)
            .iter()
            .map(|s| str_of(s, "name").unwrap_or(""))
            .collect();
        let pos = |prefix: &str| names.iter().position(|n| n.starts_with(prefix));
        let (register, update, smoke, rollback) = (
            pos("Register").expect("register step"),
            pos("Update").expect("update step"),
            pos("Smoke test").expect("smoke test"),
            pos("Roll back").expect("rollback step"),
        );
        assert!(
            register < update && update < smoke && smoke < rollback,
            "{label}: {names:?}"
        );
        let scripts = run_scripts(j);
        assert!(scripts.contains("aws ecs wait services-stable"));
        assert!(scripts.contains("$HEALTH_PATH"));
        match pos("Run database migrations") {
            Some(m) => {
                assert!(!migrate.is_empty(), "{label}: migrations without a command");
                assert!(
                    register < m && m < update,
                    "{label}: migrations before the update"
                );
                let quoted: Vec<String> = migrate.iter().map(|w| format!("'{w}'")).collect();
                assert!(scripts.contains(&quoted.join(" ")), "{label}: {quoted:?}");
                assert!(scripts.contains("aws ecs run-task"));
            }
            None => assert!(
                migrate.is_empty(),
                "{label}: no migration step for {migrate:?}"
            ),
        }
        let rb = steps(j)[rollback];
        let cond = str_of(rb, "if").unwrap();
        assert!(
            cond.contains("failure()") && cond.contains("steps.update.outcome"),
            "{cond}"
        );
        assert!(run_scripts_of(rb).contains("$previous"));
    }
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// deploy.yml calls loadtest.yml once `staged` is deployed, passing only
/// what loadtest.yml declares, and nothing waits for that job: a failing or
/// unconfigured load test never holds production back.
fn check_loadtest_call(run: &Run, doc: &Value, staged: Option<&str>, label: &str) {
    for (id, j) in jobs(doc) {
        assert!(
            !needs(j).iter().any(|n| n == "loadtest"),
            "{label}: job {id} waits for the load test"
        );
    }
    let Some(staged) = staged else {
        assert!(
            job(doc, "loadtest").is_none(),
            "{label}: no environment before production, so no load test job"
        );
        return;
    };
    let lt = job(doc, "loadtest").unwrap_or_else(|| panic!("{label}: no loadtest job"));
    assert_eq!(
        str_of(lt, "uses"),
        Some("./.github/workflows/loadtest.yml"),
        "{label}"
    );
    assert_eq!(
        needs(lt),
        [format!("deploy-{staged}")],
        "{label}: after {staged}"
    );
    // Only after that deploy succeeded (the default of needs:).
    assert!(get(lt, "if").is_none(), "{label}: the load test has an if:");
    // Least privilege: what the called job asks for, no more.
    let perms = get(lt, "permissions").expect("loadtest job permissions");
    assert_eq!(keys(Some(perms)), ["contents"], "{label}: {perms:?}");
    assert_eq!(str_of(perms, "contents"), Some("read"), "{label}");
    assert_eq!(
        get(lt, "with").and_then(|w| str_of(w, "shape")),
        Some("ramp"),
        "{label}"
    );

    let called = parse(&run.read(".github/workflows/loadtest.yml"));
    let call = get(&called, "on")
        .and_then(|on| get(on, "workflow_call"))
        .unwrap_or_else(|| panic!("{label}: loadtest.yml has no workflow_call trigger"));
    let inputs = keys(get(call, "inputs"));
    for k in keys(get(lt, "with")) {
        assert!(
            inputs.contains(&k),
            "{label}: loadtest.yml has no input {k}"
        );
    }
    // Each secret it declares, by name; never `secrets: inherit`.
    let declared = keys(get(call, "secrets"));
    match get(lt, "secrets") {
        None => assert!(declared.is_empty(), "{label}: {declared:?} not passed"),
        Some(passed) => {
            assert!(
                passed.as_mapping().is_some(),
                "{label}: secrets: {passed:?} (pass each by name)"
            );
            assert_eq!(keys(Some(passed)), declared, "{label}");
            for k in &declared {
                assert_eq!(
                    str_of(passed, k),
                    Some(format!("${{{{ secrets.{k} }}}}").as_str()),
                    "{label}: {k}"
                );
            }
        }
    }
}

fn run_scripts_of(step: &Value) -> String {
    str_of(step, "run").unwrap_or_default().to_string()
}

/// People find these by name in the Actions tab (loadtest/README.md says
/// "Actions -> Load test -> Run workflow"), and required checks name them.
#[test]
fn workflow_names_are_stable() {
    let run = init_preset("twilio-voice");
    for (file, name) in [
        ("ci.yml", "CI"),
        ("deploy.yml", "Deploy"),
        ("terraform.yml", "Terraform"),
        ("loadtest.yml", "Load test"),
    ] {
        let doc = parse(&run.read(&format!(".github/workflows/{file}")));
        assert_eq!(str_of(&doc, "name"), Some(name), "{file}");
    }
}

#[test]
fn deploy_promotes_through_each_environment_with_rollback() {
    for preset in presets() {
        let run = init_preset(&preset);
        check_deploy(&run, &preset);
    }
    let run = init_preset_with(
        "ringcentral-hold-hunter",
        &["aws.environments=[\"dev\", \"qa-eu\", \"production\"]"],
    );
    check_deploy(&run, "three environments");
    let run = init_preset_with("twilio-voice", &["aws.environments=[\"production\"]"]);
    check_deploy(&run, "production only");
}

#[test]
fn terraform_plans_on_pull_requests_and_applies_in_order() {
    for preset in presets() {
        let run = init_preset(&preset);
        let envs = environments(&run);
        let doc = parse(&run.read(".github/workflows/terraform.yml"));
        let on = get(&doc, "on").expect("triggers");
        let pr_paths = get(on, "pull_request")
            .and_then(|p| get(p, "paths"))
            .unwrap();
        assert!(pr_paths
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| p.as_str() == Some("infra/**")));

        let check = run_scripts(job(&doc, "check").unwrap());
        assert!(check.contains("terraform fmt -check -recursive"));
        let plan = job(&doc, "plan").unwrap();
        assert!(str_of(plan, "if").unwrap().contains("pull_request"));
        let matrix: Vec<&str> = get(
            get(get(plan, "strategy").unwrap(), "matrix").unwrap(),
            "environment",
        )
        .unwrap()
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
        assert_eq!(matrix, envs.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(run_scripts(plan).contains("terraform plan"));

        for (i, e) in envs.iter().enumerate() {
            let j =
                job(&doc, &format!("apply-{e}")).unwrap_or_else(|| panic!("{preset}: apply-{e}"));
            assert_eq!(env_name(j).as_deref(), Some(e.as_str()));
            assert!(str_of(j, "if").unwrap().contains("!= 'pull_request'"));
            // The applied plan is the one made (and shown) before the gate.
            assert_eq!(needs(j), vec![format!("plan-{e}")]);
            let p = job(&doc, &format!("plan-{e}")).unwrap_or_else(|| panic!("{preset}: plan-{e}"));
            assert!(run_scripts(p).contains("-out=tfplan"));
            if i > 0 {
                assert!(needs(p).contains(&format!("apply-{}", envs[i - 1])));
            }
            let conc = get(j, "concurrency").unwrap();
            assert!(str_of(conc, "group").unwrap().ends_with(e.as_str()));
            let scripts = run_scripts(j);
            assert!(scripts.contains(&"environments/$ENVIRONMENT.s3.tfbackend".to_string()));
            assert!(scripts.contains("terraform apply -no-color tfplan"));
            assert_eq!(
                get(j, "env").and_then(|v| str_of(v, "ENVIRONMENT")),
                Some(e.as_str())
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The deploy job's own scripts, run for real against a stand-in AWS.
//
// GitHub's runner is emulated only as far as the deploy job needs: each
// `run:` step in its own `bash --noprofile --norc -eo pipefail`, steps that
// `uses:` an action skipped (the artifact and credentials actions have no
// effect on a stub), a step with `if: failure() && ...` run only after a
// failure once the update step ran. `aws` and `docker` are stubs on PATH
// that play ECS and ECR and log every call; jq, awk and curl are the real
// ones, and the smoke test goes to a local HTTP server on 127.0.0.1.

const STUB_AWS: &str = r#"#!/usr/bin/env bash
# Plays just enough of ECR, ECS, SSM, S3 and CloudFront for the deploy job;
# state in $SIM_DIR (S3 objects under $SIM_DIR/s3/BUCKET/).
set -euo pipefail
echo "aws $*" >> "$SIM_DIR/aws.log"
cmd="$1 $2"; shift 2
# `s3 sync SRC DST` and `s3 cp SRC DST`: the first two arguments.
src="${1:-}" dst="${2:-}"
services="" service="" taskdef="" input="" query="" overrides="" exclude=""
while [ $# -gt 0 ]; do
  case "$1" in
    --exclude) exclude="$2"; shift ;;
    --services) services="$2"; shift ;;
    --service) service="$2"; shift ;;
    --task-definition) taskdef="$2"; shift ;;
    --cli-input-json) input="${2#file://}"; shift ;;
    --query) query="$2"; shift ;;
    --overrides) overrides="$2"; shift ;;
  esac
  shift
done
case "$cmd" in
  "sts get-caller-identity") echo 123456789012 ;;
  "ecr describe-images")
    # The tag is in ECR once pushed (docker.log), or when the scenario says.
    if [ "${IN_ECR:-0}" != 1 ] && ! grep -q '^docker push ' "$SIM_DIR/docker.log" 2>/dev/null; then
      echo "An error occurred (ImageNotFoundException)" >&2; exit 254
    fi
    if [ -n "$query" ]; then echo "sha256:$(printf 'd%.0s' $(seq 64))"; fi ;;
  "ecr get-login-password") echo token ;;
  "ecs describe-services")
    case "$query" in
      *networkConfiguration*) echo '{"awsvpcConfiguration":{"subnets":["subnet-1"],"securityGroups":["sg-1"],"assignPublicIp":"DISABLED"}}' ;;
      *) cat "$SIM_DIR/running.$services" ;;
    esac ;;
  "ecs describe-task-definition")
    # A bare family is its latest revision: 3, which Terraform registered
    # with a new variable after the running revision 1.
    family="${taskdef##*/}"; family="${family%%:*}"
    revision=1 env='[]'
    if [ "$taskdef" = "$family" ]; then revision=3 env='[{"name": "FROM_TERRAFORM", "value": "1"}]'; fi
    jq -n --arg arn "arn:aws:ecs:us-east-1:123456789012:task-definition/$family:$revision" --arg family "$family" \
      --argjson revision "$revision" --argjson env "$env" '{taskDefinition: {
      taskDefinitionArn: $arn, family: $family, revision: $revision, status: "ACTIVE",
      registeredAt: 1.5, registeredBy: "terraform", requiresAttributes: [], compatibilities: ["FARGATE"],
      cpu: "256", memory: "512", networkMode: "awsvpc",
      containerDefinitions: [
        {name: "app", image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/\($ENV.ECR_REPOSITORY):v1", essential: true,
         environment: $env},
        {name: "log-router", image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.4", essential: false}
      ]}}' ;;
  "ecs register-task-definition")
    family="$(jq -r .family "$input")"
    cp "$input" "$SIM_DIR/registered.$family.json"
    echo "arn:aws:ecs:us-east-1:123456789012:task-definition/$family:2" ;;
  "ecs run-task")
    echo "$taskdef" > "$SIM_DIR/migration.taskdef"
    echo "$overrides" > "$SIM_DIR/migration.overrides"
    echo "arn:aws:ecs:us-east-1:123456789012:task/c/0123" ;;
  "ecs describe-tasks") echo "$MIGRATE_EXIT" ;;
  "ecs update-service")
    # With a tripped circuit breaker ECS keeps (or returns to) the old revision.
    if [ "${BREAKER:-0}" = 1 ] && [ "${taskdef##*:}" = 2 ]; then :; else echo "$taskdef" > "$SIM_DIR/running.$service"; fi
    echo "$service" ;;
  "ecs wait") ;;
  "ssm get-parameter") echo '{"bucket": "frontend-bucket", "distribution_id": "E2SIMULATED"}' ;;
  "s3 sync")
    to="$SIM_DIR/s3/${dst#s3://}"
    (cd "$src" && find . -type f) | while read -r f; do
      [ -n "$exclude" ] && [ "${f#./}" = "$exclude" ] && continue
      mkdir -p "$(dirname "$to/$f")"; cp "$src/$f" "$to/$f"
    done ;;
  "s3 cp") mkdir -p "$(dirname "$SIM_DIR/s3/${dst#s3://}")"; cp "$src" "$SIM_DIR/s3/${dst#s3://}" ;;
  "cloudfront create-invalidation") echo I2SIMULATED ;;
  "cloudfront wait") ;;
  *) echo "stub aws: unexpected $cmd" >&2; exit 2 ;;
esac
"#;

const FRONTEND_INDEX: &str = "<script src=\"/assets/app-3f7a9c.js\"></script>";

/// Logs every call; `login --password-stdin` reads its password as docker
/// does (else the writer of the pipe may die of SIGPIPE under pipefail).
const STUB_DOCKER: &str = r#"#!/usr/bin/env bash
echo "docker $*" >> "$SIM_DIR/docker.log"
case " $* " in *" --password-stdin "*) cat > /dev/null ;; esac
"#;

/// A one-status HTTP server on 127.0.0.1 that records request paths; the
/// accept loop stops when it is dropped.
struct HealthServer {
    url: String,
    paths: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthServer {
    fn start(status: u16) -> HealthServer {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (paths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let mut buf = [0u8; 2048];
                        let n = conn.read(&mut buf).unwrap_or(0);
                        let req = String::from_utf8_lossy(&buf[..n]);
                        if let Some(path) = req.split_whitespace().nth(1) {
                            p.lock().unwrap().push(path.to_string());
                        }
                        let _ = write!(
                            conn,
                            "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        );
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        HealthServer {
            url,
            paths,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Simulation {
    /// (step name, outcome): "success", "failure" or "skipped".
    outcomes: Vec<(String, &'static str)>,
    aws_log: String,
    sim: tempfile::TempDir,
    smoke_paths: Vec<String>,
}

impl Simulation {
    fn outcome(&self, prefix: &str) -> &'static str {
        self.outcomes
            .iter()
            .find(|(n, _)| n.starts_with(prefix))
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("no step {prefix}: {:?}", self.outcomes))
    }
    fn running(&self, service: &str) -> String {
        std::fs::read_to_string(self.sim.path().join(format!("running.{service}")))
            .unwrap()
            .trim()
            .to_string()
    }
    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.sim.path().join(name)).unwrap_or_default()
    }
}

/// Run the first environment's deploy job of `run` with the stubs.
fn simulate_deploy(run: &Run, http_status: u16, migrate_exit: u32, breaker: bool) -> Simulation {
    simulate_deploy_with(run, http_status, migrate_exit, breaker, false)
}

/// As [`simulate_deploy`]; `in_ecr`: the environment's ECR has the image
/// already (a re-run), so the build artifact must not be needed.
fn simulate_deploy_with(
    run: &Run,
    http_status: u16,
    migrate_exit: u32,
    breaker: bool,
    in_ecr: bool,
) -> Simulation {
    require_tool("jq");
    require_tool("curl");
    let bash = require_tool("bash");
    let doc = parse(&run.read(".github/workflows/deploy.yml"));
    let env = environments(run)[0].clone();
    let job = job(&doc, &format!("deploy-{env}")).unwrap();
    let server = HealthServer::start(http_status);
    let sim = tempfile::tempdir().unwrap();
    let bin = sim.path().join("bin");
    let temp = sim.path().join("runner-temp");
    let workspace = sim.path().join("workspace");
    for d in [&bin, &temp, &workspace] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The front-end build artifact, as the download step would leave it.
    let build = temp.join("frontend");
    std::fs::create_dir_all(build.join("assets")).unwrap();
    std::fs::write(build.join("index.html"), FRONTEND_INDEX).unwrap();
    std::fs::write(build.join("assets/app-3f7a9c.js"), "console.log(1)").unwrap();
    for (name, text) in [("aws", STUB_AWS), ("docker", STUB_DOCKER)] {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // Workflow env, then job env; expressions get the values GitHub would.
    let mut vars: Vec<(String, String)> = Vec::new();
    for scope in [get(&doc, "env"), get(job, "env")] {
        for (k, v) in scope.and_then(Value::as_mapping).into_iter().flatten() {
            let (k, v) = (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            );
            let v = if !v.contains("${{") {
                v
            } else if k == "TAG" {
                "0123456789abcdef0123456789abcdef01234567".to_string()
            } else if k == "BASE_URL" {
                server.url.clone()
            } else {
                panic!("no value for {k}: {v}")
            };
            vars.push((k, v));
        }
    }
    let cluster = vars.iter().find(|(k, _)| k == "CLUSTER").unwrap().1.clone();
    let services = vars
        .iter()
        .find(|(k, _)| k == "SERVICES")
        .unwrap()
        .1
        .clone();
    for s in services.split_whitespace() {
        std::fs::write(
            sim.path().join(format!("running.{s}")),
            format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{cluster}-{s}:1\n"),
        )
        .unwrap();
    }

    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut failed = false;
    let mut update_outcome = "skipped";
    let mut outcomes = Vec::new();
    // `steps.<id>.outputs.<key>` as the steps wrote them to $GITHUB_OUTPUT.
    let mut step_outputs: BTreeMap<String, String> = BTreeMap::new();
    for step in steps(job) {
        let name = str_of(step, "name")
            .or_else(|| str_of(step, "uses"))
            .unwrap()
            .to_string();
        let Some(script) = str_of(step, "run") else {
            continue;
        };
        let should_run = match str_of(step, "if") {
            None => !failed,
            Some("${{ failure() && steps.update.outcome != 'skipped' }}") => {
                failed && update_outcome != "skipped"
            }
            Some(cond) if cond.starts_with("steps.") && cond.contains(" == '") => {
                let (key, want) = cond.split_once(" == ").unwrap();
                !failed
                    && step_outputs.get(key).map(String::as_str) == Some(want.trim_matches('\''))
            }
            Some(other) => panic!("the simulation does not know the condition {other}"),
        };
        if !should_run {
            outcomes.push((name, "skipped"));
            continue;
        }
        // The smoke test retries for a minute; one quick retry here.
        let script = if script.contains("curl ") {
            let short = script.replace("--retry 12 --retry-delay 5", "--retry 1 --retry-delay 0");
            assert_ne!(short, script, "the smoke test's retry flags changed");
            short
        } else {
            script.to_string()
        };
        let file = sim.path().join("step.sh");
        std::fs::write(&file, &script).unwrap();
        let out = Command::new(&bash)
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(&workspace)
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", &path)
            .env("HOME", sim.path())
            .env("RUNNER_TEMP", &temp)
            .env("GITHUB_OUTPUT", temp.join("output"))
            .env("GITHUB_RUN_ID", "42")
            .env("SIM_DIR", sim.path())
            .env("MIGRATE_EXIT", migrate_exit.to_string())
            .env("BREAKER", if breaker { "1" } else { "0" })
            .env("IN_ECR", if in_ecr { "1" } else { "0" })
            .output()
            .unwrap();
        let written = std::fs::read_to_string(temp.join("output")).unwrap_or_default();
        let _ = std::fs::remove_file(temp.join("output"));
        if let Some(id) = str_of(step, "id") {
            for (k, v) in written.lines().filter_map(|l| l.split_once('=')) {
                step_outputs.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
            }
        }
        let outcome = if out.status.success() {
            "success"
        } else {
            "failure"
        };
        if !out.status.success() && !failed {
            eprintln!(
                "step {name} failed (as the scenario may intend):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if str_of(step, "id") == Some("update") {
            update_outcome = outcome;
        }
        failed |= !out.status.success();
        outcomes.push((name, outcome));
    }
    let smoke_paths = server.paths.lock().unwrap().clone();
    drop(server);
    Simulation {
        outcomes,
        aws_log: std::fs::read_to_string(sim.path().join("aws.log")).unwrap_or_default(),
        sim,
        smoke_paths,
    }
}

#[test]
fn a_deploy_migrates_rolls_out_and_smoke_tests() {
    let run = init_preset("twilio-voice");
    let s = simulate_deploy(&run, 200, 0, false);
    for (name, outcome) in &s.outcomes {
        let want = if name.starts_with("Roll back") {
            "skipped"
        } else {
            "success"
        };
        assert_eq!(*outcome, want, "{name}: {:?}", s.outcomes);
    }
    let image = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/voice-agent-staging@sha256:{}",
        "d".repeat(64)
    );
    // New revisions: only the app image swapped, read-only fields dropped.
    for service in ["app", "worker"] {
        let td: serde_json::Value = serde_json::from_str(
            &s.file(&format!("registered.voice-agent-staging-{service}.json")),
        )
        .unwrap_or_else(|e| panic!("{service} was not registered: {e}"));
        assert_eq!(td["containerDefinitions"][0]["image"], image.as_str());
        assert_eq!(
            td["containerDefinitions"][1]["image"],
            "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.4"
        );
        for key in [
            "taskDefinitionArn",
            "revision",
            "status",
            "registeredAt",
            "compatibilities",
        ] {
            assert!(
                td.get(key).is_none(),
                "{key} would be rejected by RegisterTaskDefinition"
            );
        }
        assert_eq!(
            s.running(service),
            format!("arn:aws:ecs:us-east-1:123456789012:task-definition/voice-agent-staging-{service}:2")
        );
    }
    // The new revisions carry what Terraform last registered (the family's
    // latest revision), not only the running one's settings.
    for service in ["app", "worker"] {
        let td: serde_json::Value = serde_json::from_str(
            &s.file(&format!("registered.voice-agent-staging-{service}.json")),
        )
        .unwrap();
        assert_eq!(
            td["containerDefinitions"][0]["environment"],
            serde_json::json!([{"name": "FROM_TERRAFORM", "value": "1"}]),
            "{service}: cloned from the running revision, not the latest"
        );
    }
    // A first deploy pushes the built image.
    let docker = s.file("docker.log");
    assert!(docker.contains("docker load --input"), "{docker}");
    assert!(docker
        .contains("docker push 123456789012.dkr.ecr.us-east-1.amazonaws.com/voice-agent-staging:"));
    // The migration ran the new app revision with the profile's command.
    assert!(s
        .file("migration.taskdef")
        .contains("voice-agent-staging-app:2"));
    let overrides: serde_json::Value =
        serde_json::from_str(&s.file("migration.overrides")).unwrap();
    assert_eq!(
        overrides,
        serde_json::json!({"containerOverrides": [{"name": "app", "command": ["node", "dist/migrate.js"]}]})
    );
    let migrate_at = s.aws_log.find("ecs run-task").unwrap();
    let update_at = s.aws_log.find("ecs update-service").unwrap();
    assert!(migrate_at < update_at, "migrations run before the rollout");
    assert_eq!(s.smoke_paths, ["/health", "/health/ready"]);
}

#[test]
fn a_rerun_deploys_the_image_already_in_ecr_without_the_artifact() {
    let run = init_preset("twilio-voice");
    let s = simulate_deploy_with(&run, 200, 0, false, true);
    assert_eq!(s.outcome("Look for the image in ECR"), "success");
    assert_eq!(s.outcome("Push the image to ECR"), "skipped");
    assert_eq!(s.outcome("Smoke test"), "success");
    assert!(
        !s.file("docker.log").contains("docker "),
        "docker ran: {}",
        s.file("docker.log")
    );
    // The artifact download is skipped the same way as the push.
    let doc = parse(&run.read(".github/workflows/deploy.yml"));
    let job = job(&doc, "deploy-staging").unwrap();
    let download = steps(job)
        .into_iter()
        .find(|st| str_of(st, "uses").is_some_and(|u| u.starts_with("actions/download-artifact@")))
        .unwrap();
    assert_eq!(
        str_of(download, "if"),
        Some("steps.ecr.outputs.present == 'false'")
    );
}

#[test]
fn a_failed_smoke_test_rolls_back_to_the_previous_task_definition() {
    let run = init_preset("twilio-voice");
    let s = simulate_deploy(&run, 503, 0, false);
    assert_eq!(s.outcome("Update"), "success");
    assert_eq!(s.outcome("Smoke test"), "failure");
    assert_eq!(s.outcome("Roll back"), "success");
    for service in ["app", "worker"] {
        assert_eq!(
            s.running(service),
            format!("arn:aws:ecs:us-east-1:123456789012:task-definition/voice-agent-staging-{service}:1"),
            "{service} was not rolled back"
        );
    }
    assert!(
        !s.smoke_paths.is_empty(),
        "the smoke test never reached the service"
    );
}

#[test]
fn a_rollout_the_circuit_breaker_undid_fails_and_rolls_back() {
    let run = init_preset("ringcentral-hold-hunter");
    let s = simulate_deploy(&run, 200, 0, true);
    assert_eq!(s.outcome("Update"), "failure");
    assert_eq!(s.outcome("Smoke test"), "skipped");
    assert_eq!(s.outcome("Roll back"), "success");
    assert!(
        s.aws_log.matches("ecs update-service").count() >= 4,
        "{}",
        s.aws_log
    );
    // No Postgres in this preset: no migration task.
    assert!(!s.aws_log.contains("run-task"));
}

/// The front end goes out around the app rollout: its files before (nothing
/// refers to them yet), index.html and the CloudFront invalidation only once
/// the new app passed its smoke test; after a failed rollout viewers keep
/// the previous front end.
#[test]
fn a_deploy_publishes_the_front_end_around_the_app_rollout() {
    let run = init_preset("fastapi-three-tier");
    let s = simulate_deploy(&run, 200, 0, false);
    for (name, outcome) in &s.outcomes {
        let want = if name.starts_with("Roll back") {
            "skipped"
        } else {
            "success"
        };
        assert_eq!(*outcome, want, "{name}: {:?}", s.outcomes);
    }
    let bucket = s.sim.path().join("s3/frontend-bucket");
    assert_eq!(
        std::fs::read_to_string(bucket.join("index.html")).unwrap(),
        FRONTEND_INDEX
    );
    assert!(bucket.join("assets/app-3f7a9c.js").is_file());
    let log = &s.aws_log;
    let at = |what: &str| {
        log.find(what)
            .unwrap_or_else(|| panic!("no `{what}` in:\n{log}"))
    };
    assert!(log.contains("ssm get-parameter --name /voice-api-staging/frontend-target"));
    assert!(at("s3 sync") < at("ecs update-service"), "{log}");
    assert!(at("ecs update-service") < at("s3 cp"), "{log}");
    assert!(at("s3 cp") < at("cloudfront create-invalidation --distribution-id E2SIMULATED"));
    assert!(at("cloudfront create-invalidation") < at("cloudfront wait invalidation-completed"));
    assert!(log.contains("--cache-control no-cache"), "{log}");

    let failed = simulate_deploy(&run, 503, 0, false);
    assert_eq!(failed.outcome("Smoke test"), "failure");
    assert_eq!(failed.outcome("Roll back"), "success");
    assert_eq!(failed.outcome("Publish the front end"), "skipped");
    let bucket = failed.sim.path().join("s3/frontend-bucket");
    assert!(bucket.join("assets/app-3f7a9c.js").is_file());
    assert!(
        !bucket.join("index.html").exists(),
        "index.html switched after a failed rollout"
    );
    assert!(!failed.aws_log.contains("cloudfront"), "{}", failed.aws_log);
}

#[test]
fn a_failed_migration_stops_the_deploy_before_the_rollout() {
    let run = init_preset("fastapi-three-tier");
    let s = simulate_deploy(&run, 200, 1, false);
    assert_eq!(s.outcome("Run database migrations"), "failure");
    assert_eq!(s.outcome("Update"), "skipped");
    assert_eq!(s.outcome("Roll back"), "skipped");
    assert!(!s.aws_log.contains("update-service"), "{}", s.aws_log);
    let overrides: serde_json::Value =
        serde_json::from_str(&s.file("migration.overrides")).unwrap();
    assert_eq!(
        overrides["containerOverrides"][0]["command"],
        serde_json::json!(["alembic", "upgrade", "head"])
    );
}

/// Inputs of each pinned action at its pinned release (from each action's
/// action.yml / README). actionlint checks inputs only for actions it knows
/// by tag, so a misspelt input of a SHA-pinned action would pass it silently.
const ACTION_INPUTS: &[(&str, &[&str])] = &[
    (
        "actions/checkout",
        &[
            "repository",
            "ref",
            "token",
            "ssh-key",
            "ssh-known-hosts",
            "ssh-strict",
            "ssh-user",
            "persist-credentials",
            "path",
            "clean",
            "filter",
            "sparse-checkout",
            "sparse-checkout-cone-mode",
            "fetch-depth",
            "fetch-tags",
            "show-progress",
            "lfs",
            "submodules",
            "set-safe-directory",
            "github-server-url",
        ],
    ),
    (
        "actions/setup-node",
        &[
            "node-version",
            "node-version-file",
            "architecture",
            "check-latest",
            "registry-url",
            "scope",
            "token",
            "cache",
            "cache-dependency-path",
        ],
    ),
    (
        "actions/setup-python",
        &[
            "python-version",
            "python-version-file",
            "cache",
            "architecture",
            "check-latest",
            "token",
            "cache-dependency-path",
            "update-environment",
            "allow-prereleases",
        ],
    ),
    (
        "aws-actions/configure-aws-credentials",
        &[
            "audience",
            "aws-region",
            "role-to-assume",
            "role-session-name",
            "role-duration-seconds",
            "role-external-id",
            "role-skip-session-tagging",
            "mask-aws-account-id",
            "web-identity-token-file",
            "inline-session-policy",
            "managed-session-policies",
            "output-credentials",
            "unset-current-credentials",
            "disable-retry",
            "retry-max-attempts",
        ],
    ),
    (
        "hashicorp/setup-terraform",
        &[
            "cli_config_credentials_hostname",
            "cli_config_credentials_token",
            "terraform_version",
            "terraform_wrapper",
        ],
    ),
    (
        "hadolint/hadolint-action",
        &[
            "dockerfile",
            "config",
            "recursive",
            "output-file",
            "no-color",
            "no-fail",
            "verbose",
            "format",
            "failure-threshold",
            "override-error",
            "override-warning",
            "override-info",
            "override-style",
            "ignore",
            "trusted-registries",
        ],
    ),
    (
        "aquasecurity/trivy-action",
        &[
            "scan-type",
            "image-ref",
            "input",
            "scan-ref",
            "exit-code",
            "ignore-unfixed",
            "vuln-type",
            "severity",
            "format",
            "template",
            "output",
            "skip-dirs",
            "skip-files",
            "cache-dir",
            "timeout",
            "ignore-policy",
            "hide-progress",
            "list-all-pkgs",
            "scanners",
            "trivyignores",
            "trivy-config",
            "tf-vars",
            "version",
            "cache",
            "skip-setup-trivy",
        ],
    ),
    (
        "actions/upload-artifact",
        &[
            "name",
            "path",
            "if-no-files-found",
            "retention-days",
            "compression-level",
            "overwrite",
            "include-hidden-files",
        ],
    ),
    (
        "actions/download-artifact",
        &[
            "name",
            "path",
            "pattern",
            "merge-multiple",
            "github-token",
            "repository",
            "run-id",
            "artifact-ids",
        ],
    ),
];

#[test]
fn every_action_input_is_one_the_action_declares() {
    for preset in presets() {
        let run = init_preset(&preset);
        for w in workflows(&run) {
            let doc = parse(&w.text);
            for (id, job) in jobs(&doc) {
                for step in steps(job) {
                    let Some(uses) = str_of(step, "uses") else {
                        continue;
                    };
                    let action = uses.split('@').next().unwrap();
                    let Some((_, inputs)) = ACTION_INPUTS.iter().find(|(a, _)| *a == action) else {
                        panic!(
                            "{}: {action} is not in ACTION_INPUTS: add its inputs",
                            w.path
                        );
                    };
                    for (k, _) in get(step, "with")
                        .and_then(Value::as_mapping)
                        .into_iter()
                        .flatten()
                    {
                        let k = k.as_str().unwrap();
                        assert!(
                            inputs.contains(&k),
                            "{preset} {} job {id}: {action} has no input {k}",
                            w.path
                        );
                    }
                }
            }
        }
    }
}

/// The CI drift step, run for real over a generated tree with this build's
/// shipready on PATH (in place of `cargo install`): clean and locally edited
/// trees pass (an edit is listed as a notice), a deleted generated file or
/// leftover conflict markers fail it.
#[test]
fn the_drift_step_passes_edits_and_fails_missing_files_and_conflicts() {
    let run = init_preset("twilio-voice");
    let ci = parse(&run.read(".github/workflows/ci.yml"));
    let step = steps(job(&ci, "drift").unwrap())
        .into_iter()
        .find(|s| str_of(s, "name") == Some("shipready diff"))
        .expect("the shipready diff step");
    let script = str_of(step, "run").unwrap().to_string();
    let bin = assert_cmd::cargo::cargo_bin("shipready");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let temp = tempfile::tempdir().unwrap();
    let drift = |label: &str| {
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(run.path())
            .env("PATH", &path)
            .env("RUNNER_TEMP", temp.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("--- {label}: {:?}\n{text}", out.status.code());
        (out.status.code(), text)
    };

    assert_eq!(drift("clean").0, Some(0));

    let file = "deploy/nginx/conf.d/site.conf";
    let edited = format!("# our own note\n{}", run.read(file));
    std::fs::write(run.path().join(file), &edited).unwrap();
    let (code, text) = drift("edited");
    assert_eq!(code, Some(0), "a local edit fails the drift check");
    assert!(
        text.contains(&format!("::notice file={file}::")),
        "the edit is not listed"
    );

    std::fs::remove_file(run.path().join("compose.prod.yaml")).unwrap();
    let (code, text) = drift("missing");
    assert_eq!(code, Some(1));
    assert!(text.contains("missing compose.prod.yaml") && text.contains("::error::"));
    std::fs::write(
        run.path().join("compose.prod.yaml"),
        run.read("compose.yaml"),
    )
    .unwrap();
    // compose.prod.yaml now differs from the render: an edit, not drift.
    assert_eq!(drift("replaced").0, Some(0));

    // The markers `shipready update` writes.
    let conflicted =
        format!("<<<<<<< local (your edits)\n{edited}=======\n# theirs\n>>>>>>> template 1.0.0\n");
    std::fs::write(run.path().join(file), conflicted).unwrap();
    let (code, text) = drift("conflict markers");
    assert_eq!(code, Some(1));
    assert!(text.contains(&format!("conflicting {file}")), "{text}");
}
