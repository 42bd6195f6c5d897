//! Moving a generated tree between deploy targets with `update --set
//! deploy.target=...`, and the Kubernetes deploy workflow: linted like every
//! workflow, and its deploy job's scripts run in GitHub's order against a
//! fake kubectl, kustomize, aws and curl on PATH that record their calls.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{init_preset_with, presets, require_tool, Run};
use serde_norway::Value;
use shipready::verify::Outcome;

const ECS_ONLY: [&str; 2] = ["infra/terraform/ecs.tf", "infra/terraform/sidecars.tf"];
const KUBERNETES_ONLY: [&str; 2] = ["infra/terraform/eks.tf", "infra/terraform/eks_identity.tf"];

/// The generated files, without shipready's own bookkeeping (the lock in
/// shipready.toml, the merge bases under .shipready/).
fn tree(run: &Run) -> Vec<String> {
    let mut files = run.files();
    files.retain(|f| f != "shipready.toml" && !f.starts_with(".shipready/"));
    files
}

/// `shipready ARGS` in the tree of `run`.
fn shipready(run: Run, args: &[&str]) -> Run {
    let run = Run::in_dir(run.dir).args(args);
    run.expect(0);
    run
}

#[test]
fn switching_targets_moves_files_and_keeps_local_edits() {
    // An opt-in sidecar, so that an ECS-only file (sidecars.tf) is untouched.
    let sidecar = r#"sidecars=[{ name = "inference", image = "registry.example.com/inference:1.0.0", port = 8080 }]"#;
    let run = init_preset_with("fastapi-three-tier", &[sidecar]);
    let fresh_ecs = init_preset_with("fastapi-three-tier", &[sidecar]);
    let fresh_k8s = init_preset_with("fastapi-three-tier", &[sidecar, "deploy.target=kubernetes"]);
    for f in ECS_ONLY {
        assert!(run.path().join(f).exists(), "ECS tree lacks {f}");
    }
    // A local edit to a file only ECS renders, and an untouched one.
    let edited = "infra/terraform/ecs.tf";
    let edit = format!("{}\n# kept: a local note\n", run.read(edited));
    std::fs::write(run.path().join(edited), &edit).unwrap();

    let run = shipready(run, &["update", "--set", "deploy.target=kubernetes"]);
    assert_eq!(
        run.read(edited),
        edit,
        "the edited ECS file is kept as edited"
    );
    assert!(
        !run.path().join("infra/terraform/sidecars.tf").exists(),
        "the untouched ECS-only file is removed"
    );
    for f in KUBERNETES_ONLY {
        assert_eq!(
            run.read(f),
            fresh_k8s.read(f),
            "{f} as a fresh init writes it"
        );
    }
    let workflow = ".github/workflows/deploy.yml";
    assert_eq!(run.read(workflow), fresh_k8s.read(workflow));
    // Everything else is what a fresh Kubernetes init writes.
    let mut moved = tree(&run);
    moved.retain(|f| f != edited);
    let want = tree(&fresh_k8s);
    assert_eq!(moved, want, "the Kubernetes tree after the move");
    for f in &want {
        assert_eq!(run.read(f), fresh_k8s.read(f), "{f} after the move");
    }

    // And back: the EKS files go, the edited ECS file is still the edit
    // (and managed again), the rest is a fresh ECS tree.
    let run = shipready(run, &["update", "--set", "deploy.target=ecs"]);
    for f in KUBERNETES_ONLY {
        assert!(!run.path().join(f).exists(), "{f} is removed");
    }
    assert_eq!(run.read(edited), edit, "the edit survives the way back");
    let back = tree(&run);
    let want = tree(&fresh_ecs);
    assert_eq!(back, want, "the ECS tree after moving back");
    for f in want.iter().filter(|f| f.as_str() != edited) {
        assert_eq!(run.read(f), fresh_ecs.read(f), "{f} after moving back");
    }
    let lock = run.read("shipready.toml");
    assert!(
        lock.contains(&format!("[files.\"{edited}\"]")),
        "ecs.tf is managed again: {lock}"
    );
}

#[test]
fn kubernetes_deploy_workflow_of_every_preset_passes_actionlint_and_zizmor() {
    require_tool("actionlint");
    require_tool("shellcheck");
    require_tool("zizmor");
    let mut checked = 0;
    for preset in presets() {
        let run = init_preset_with(&preset, &["deploy.target=kubernetes"]);
        let file = ".github/workflows/deploy.yml";
        assert!(
            run.read(file).contains("kubectl"),
            "{preset}: not the Kubernetes workflow"
        );
        let findings =
            shipready::verify::check_only(run.path(), &[file], &["actionlint", "zizmor"]);
        assert_eq!(findings.len(), 2, "{preset}: {findings:?}");
        for f in findings {
            assert!(
                matches!(f.result, Ok(Outcome::Pass)),
                "{preset} {}: {:?}",
                f.validator,
                f.result
            );
            checked += 1;
        }
    }
    assert_eq!(checked, presets().len() * 2);
}

// --- The deploy job, step by step, with fakes.

/// Every fake appends `NAME ARGS...` to $SIM_DIR/calls.log.
const FAKE_KUBECTL: &str = r#"#!/usr/bin/env bash
echo "kubectl $*" >> "$SIM_DIR/calls.log"
case "$*" in
  *"get job migrate"*) echo "$MIGRATE_RESULT" ;;
  *"logs job/migrate"*) echo "migration error" ;;
  *"component=migrate"*) echo "job.batch/migrate serverside-applied" ;;
  *"apply"*"-o name"*)
    printf 'serviceaccount/app\nservice/app\ndeployment.apps/app\ndeployment.apps/worker\n' ;;
  *"rollout status"*) exit "$ROLLOUT_EXIT" ;;
esac
exit 0
"#;

const FAKE_KUSTOMIZE: &str = r#"#!/usr/bin/env bash
echo "kustomize $*" >> "$SIM_DIR/calls.log"
case "$1 $2 $3" in
  "edit set image")
    [ -f kustomization.yaml ] || { echo "not in an overlay" >&2; exit 1; }
    echo "${4#app=}" > "$SIM_DIR/pinned" ;;
  "build "*)
    [ -f "$2/kustomization.yaml" ] || { echo "no overlay at $2" >&2; exit 1; }
    printf 'kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: %s\n' "$(cat "$SIM_DIR/pinned")" ;;
esac
"#;

const FAKE_AWS: &str = r#"#!/usr/bin/env bash
echo "aws $*" >> "$SIM_DIR/calls.log"
case "$*" in
  "sts get-caller-identity"*) echo 123456789012 ;;
  "ecr describe-images"*"--query"*) echo "sha256:$(printf 'a%.0s' {1..64})" ;;
  "ecr describe-images"*) exit 0 ;;
esac
exit 0
"#;

const FAKE_CURL: &str = r#"#!/usr/bin/env bash
echo "curl ${*: -1}" >> "$SIM_DIR/calls.log"
exit "$SMOKE_EXIT"
"#;

struct Outcome2 {
    steps: Vec<(String, &'static str)>,
    calls: Vec<String>,
}

impl Outcome2 {
    fn step(&self, prefix: &str) -> &'static str {
        self.steps
            .iter()
            .find(|(n, _)| n.starts_with(prefix))
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("no step {prefix}: {:?}", self.steps))
    }
    /// Index of the first call containing `needle`.
    fn at(&self, needle: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("no call {needle:?} in {:#?}", self.calls))
    }
    fn has(&self, needle: &str) -> bool {
        self.calls.iter().any(|c| c.contains(needle))
    }
}

fn fakes(bin: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in [
        ("kubectl", FAKE_KUBECTL),
        ("kustomize", FAKE_KUSTOMIZE),
        ("aws", FAKE_AWS),
        ("curl", FAKE_CURL),
    ] {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Run the first environment's deploy job: `migrate` is the migrate Job's
/// final condition, `rollout`/`smoke` the exit codes of the rollout wait
/// and of curl.
fn simulate(run: &Run, migrate: &str, rollout: u8, smoke: u8) -> Outcome2 {
    let bash = require_tool("bash");
    let doc: Value = serde_norway::from_str(&run.read(".github/workflows/deploy.yml")).unwrap();
    let jobs = doc.get("jobs").and_then(Value::as_mapping).unwrap();
    let (_, job) = jobs
        .iter()
        .find(|(k, _)| k.as_str().is_some_and(|k| k.starts_with("deploy-")))
        .expect("a deploy job");
    let sim = tempfile::tempdir().unwrap();
    let (bin, temp, ws) = (
        sim.path().join("bin"),
        sim.path().join("runner-temp"),
        sim.path().join("workspace"),
    );
    let overlay = job["env"]["OVERLAY"].as_str().unwrap().to_string();
    for d in [&bin, &temp, &ws.join(&overlay)] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(
        ws.join(&overlay).join("kustomization.yaml"),
        "resources: []\n",
    )
    .unwrap();
    fakes(&bin);

    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for scope in [doc.get("env"), job.get("env")] {
        for (k, v) in scope.and_then(Value::as_mapping).into_iter().flatten() {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{v:?}"));
            let v = match (k.as_str(), v.contains("${{")) {
                (_, false) => v,
                (Some("TAG"), true) => "0123456789abcdef0123456789abcdef01234567".to_string(),
                (Some("BASE_URL"), true) => "https://staging.test".to_string(),
                (k, true) => panic!("no value for {k:?}: {v}"),
            };
            vars.insert(k.as_str().unwrap().to_string(), v);
        }
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (mut failed, mut apply_ran) = (false, false);
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut steps = Vec::new();
    for step in job["steps"].as_sequence().unwrap() {
        let Some(script) = step.get("run").and_then(Value::as_str) else {
            continue;
        };
        let name = step["name"].as_str().unwrap().to_string();
        let should_run = match step.get("if").and_then(Value::as_str) {
            None => !failed,
            Some("${{ failure() && steps.apply.outcome != 'skipped' }}") => failed && apply_ran,
            Some(c) if c.starts_with("steps.") && c.contains(" == '") => {
                let (key, want) = c.split_once(" == ").unwrap();
                !failed && outputs.get(key).map(String::as_str) == Some(want.trim_matches('\''))
            }
            Some(other) => panic!("the simulation does not know the condition {other}"),
        };
        if !should_run {
            steps.push((name, "skipped"));
            continue;
        }
        let file = sim.path().join("step.sh");
        std::fs::write(&file, script).unwrap();
        let out = Command::new(&bash)
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(&ws)
            .env_clear()
            .envs(&vars)
            .env("PATH", &path)
            .env("HOME", sim.path())
            .env("RUNNER_TEMP", &temp)
            .env("GITHUB_OUTPUT", temp.join("output"))
            .env("GITHUB_ENV", temp.join("env"))
            .env("GITHUB_RUN_ID", "42")
            .env("SIM_DIR", sim.path())
            .env("MIGRATE_RESULT", migrate)
            .env("ROLLOUT_EXIT", rollout.to_string())
            .env("SMOKE_EXIT", smoke.to_string())
            .output()
            .unwrap();
        for (file, into_vars) in [("output", false), ("env", true)] {
            let written = std::fs::read_to_string(temp.join(file)).unwrap_or_default();
            let _ = std::fs::remove_file(temp.join(file));
            for (k, v) in written.lines().filter_map(|l| l.split_once('=')) {
                if into_vars {
                    vars.insert(k.to_string(), v.to_string());
                } else if let Some(id) = step.get("id").and_then(Value::as_str) {
                    outputs.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
                }
            }
        }
        if step.get("id").and_then(Value::as_str) == Some("apply") {
            apply_ran = true;
        }
        if !out.status.success() && !failed {
            eprintln!(
                "step {name} failed (as the scenario may intend):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        failed |= !out.status.success();
        steps.push((
            name,
            if out.status.success() {
                "success"
            } else {
                "failure"
            },
        ));
    }
    let calls = std::fs::read_to_string(sim.path().join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    Outcome2 { steps, calls }
}

#[test]
fn kubernetes_deploy_migrates_applies_waits_and_smoke_tests_in_order() {
    let run = init_preset_with("fastapi-three-tier", &["deploy.target=kubernetes"]);
    let s = simulate(&run, "Complete", 0, 0);
    for (name, outcome) in &s.steps {
        // The image is in ECR already (the fake says so): a re-run's path.
        let skipped =
            name.starts_with("Roll the Deployments back") || name.starts_with("Push the image");
        let want = if skipped { "skipped" } else { "success" };
        assert_eq!(*outcome, want, "{name}: {:#?}", s.calls);
    }
    let order = [
        "aws ecr describe-images --repository-name voice-api-staging --image-ids imageTag=0123456789abcdef",
        "aws eks update-kubeconfig",
        "kustomize edit set image app=123456789012.dkr.ecr.us-east-1.amazonaws.com/voice-api-staging@sha256:",
        "kubectl -n voice-api delete job migrate",
        "component=migrate",
        "get job migrate",
        "-o name",
        "rollout status deployment.apps/app",
        "rollout status deployment.apps/worker",
        "curl https://staging.test/health",
    ];
    let at: Vec<usize> = order.iter().map(|n| s.at(n)).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "order {order:?} at {at:?}: {:#?}",
        s.calls
    );
    assert!(
        s.calls.iter().any(|c| c.contains("@sha256:")),
        "pinned by digest: {:#?}",
        s.calls
    );
    let apply = &s.calls[s.at("-o name")];
    assert!(
        apply.contains("component!=migrate"),
        "the migrate Job is not applied a second time: {apply}"
    );
    assert!(!s.has("rollout undo"), "{:#?}", s.calls);
}

#[test]
fn kubernetes_deploy_undoes_the_rollout_when_the_smoke_test_or_rollout_fails() {
    let run = init_preset_with("fastapi-three-tier", &["deploy.target=kubernetes"]);
    for (rollout, smoke, failing) in [(0, 22, "Smoke test"), (1, 0, "Wait for the rollouts")] {
        let s = simulate(&run, "Complete", rollout, smoke);
        assert_eq!(s.step(failing), "failure", "{:?}", s.steps);
        assert_eq!(
            s.step("Roll the Deployments back"),
            "success",
            "{:#?}",
            s.calls
        );
        let undo = s.at("rollout undo deployment.apps/app");
        assert!(s.at("-o name") < undo, "{:#?}", s.calls);
        assert!(
            s.has("rollout undo deployment.apps/worker"),
            "{:#?}",
            s.calls
        );
        if smoke != 0 {
            assert!(
                s.at("curl ") < undo,
                "undo after the smoke test: {:#?}",
                s.calls
            );
        }
    }
}

#[test]
fn kubernetes_deploy_stops_before_applying_when_the_migration_fails() {
    let run = init_preset_with("fastapi-three-tier", &["deploy.target=kubernetes"]);
    let s = simulate(&run, "Failed", 0, 0);
    assert_eq!(s.step("Run database migrations"), "failure");
    assert_eq!(s.step("Apply the overlay"), "skipped");
    assert_eq!(
        s.step("Roll the Deployments back"),
        "skipped",
        "nothing was changed"
    );
    assert!(s.has("logs job/migrate"), "the failed Job's logs are shown");
    assert!(!s.has("-o name") && !s.has("rollout"), "{:#?}", s.calls);
}
