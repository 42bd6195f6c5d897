//! The generated Terraform run by the real Terraform CLI and AWS provider:
//! for every preset and environment, `init` from the local provider mirror,
//! `validate`, and a full `plan` through `terraform test` with the mocked
//! provider the generated tests/plan.tftest.hcl declares. Then terraform.yml's
//! own plan and apply scripts, run step by step in the order GitHub runs
//! them, so a variable the workflow forgets fails here and not on every push.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::terraform::terraform;
use serde_norway::Value;

const TF_DIR: &str = "infra/terraform";

fn environments(root: &Path) -> Vec<String> {
    let mut envs: Vec<String> = std::fs::read_dir(root.join(TF_DIR).join("environments"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".tfvars")
                .map(str::to_string)
        })
        .collect();
    envs.sort();
    envs
}

#[test]
fn every_preset_validates_and_plans_each_environment() {
    let tf = terraform();
    let started = Instant::now();
    let presets = common::presets();
    // Two threads: the machine's cores; each plan is CPU-bound in the provider.
    let queue = std::sync::Mutex::new(presets.clone());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(preset) = queue.lock().unwrap().pop() else {
                    break;
                };
                let run = common::init_preset(&preset);
                let dir = run.path().join(TF_DIR);
                tf.init(&dir);
                tf.ok(&dir, &["validate", "-no-color"]);
                let envs = environments(run.path());
                assert!(envs.len() >= 2, "{preset}: {envs:?}");
                for env in &envs {
                    let var_file = format!("-var-file=environments/{env}.tfvars");
                    let out = tf.ok(&dir, &["test", "-no-color", &var_file]);
                    assert!(
                        out.contains("run \"plan\"... pass") && out.contains("1 passed, 0 failed"),
                        "{preset} {env}: {out}"
                    );
                    results.lock().unwrap().push(format!("{preset}/{env}"));
                }
            });
        }
    });
    let planned = results.into_inner().unwrap();
    assert_eq!(planned.len(), presets.len() * 2, "{planned:?}");
    eprintln!(
        "validated {} presets and planned {} environments in {:.1}s",
        presets.len(),
        planned.len(),
        started.elapsed().as_secs_f64()
    );
}

/// A broken reference and a value the provider rejects must both fail:
/// the plan proof is only worth something if it can say no.
#[test]
fn validate_and_plan_fail_on_broken_terraform() {
    let tf = terraform();
    let run = common::init_preset("twilio-voice");
    let dir = run.path().join(TF_DIR);
    tf.init(&dir);
    let alb = dir.join("alb.tf");
    let text = std::fs::read_to_string(&alb).unwrap();

    std::fs::write(&alb, text.replace("aws_vpc.main.id", "aws_vpc.missing.id")).unwrap();
    let (ok, out) = tf.run(&dir, &["validate", "-no-color"]);
    assert!(!ok && out.contains("undeclared resource"), "{out}");

    // Valid HCL, but the provider's own check of the ALB's type refuses it.
    std::fs::write(&alb, text.replace("\"application\"", "\"applications\"")).unwrap();
    let (ok, out) = tf.run(
        &dir,
        &["test", "-no-color", "-var-file=environments/staging.tfvars"],
    );
    assert!(!ok && out.contains("load_balancer_type"), "{out}");
}

// ---------------------------------------------------------------------------
// terraform.yml's scripts, run for real.
//
// Each `run:` step runs in its own `bash --noprofile --norc -eo pipefail` in
// infra/terraform, with the workflow's, job's and step's `env:` (their
// `${{ }}` expressions filled from a fixed table; an unknown one fails the
// test). `terraform` on PATH is a wrapper that hands `init` and `validate`
// to the real CLI (without the S3 backend, which needs AWS) and turns
// `plan -var... -out=FILE` into `terraform test` with the same variables
// against the mocked provider, writing FILE; `apply FILE` needs that FILE.
// The upload/download artifact steps move the plan file between jobs; other
// `uses:` steps (checkout, setup, credentials) have nothing to do here.

const WRAPPER: &str = r#"#!/bin/bash
set -euo pipefail
real="$SHIPREADY_REAL_TERRAFORM"
cmd="$1"; shift
echo "terraform $cmd $*" >> "$SHIPREADY_TF_LOG"
case "$cmd" in
  init)
    for a in "$@"; do
      case "$a" in
        -backend-config=*) f="${a#-backend-config=}"; [ -f "$f" ] || { echo "no backend config $f" >&2; exit 1; } ;;
      esac
    done
    exec "$real" init -backend=false -no-color ;;
  plan)
    vars=(); out=""
    for a in "$@"; do
      case "$a" in
        -var-file=*|-var=*) vars+=("$a") ;;
        -out=*) out="${a#-out=}" ;;
      esac
    done
    [ -n "$out" ] || { echo "plan without -out" >&2; exit 1; }
    "$real" test -no-color "${vars[@]}"
    printf 'plan of %s at %s\n' "${vars[*]}" "$(date +%s%N)" > "$out" ;;
  show)
    cat "${@: -1}" ;;
  apply)
    plan="${@: -1}"
    [ -f "$plan" ] || { echo "no plan file $plan" >&2; exit 1; }
    echo "applied $(cat "$plan")" ;;
  *)
    exec "$real" "$cmd" "$@" ;;
esac
"#;

struct Emulator<'a> {
    doc: &'a Value,
    root: PathBuf,
    bin: PathBuf,
    log: PathBuf,
    artifacts: BTreeMap<String, Vec<u8>>,
    /// job id -> its outputs
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    event: &'static str,
    matrix_env: Option<String>,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn env_map(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other).unwrap().trim().to_string(),
                    };
                    (k.as_str().unwrap().to_string(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

impl Emulator<'_> {
    fn expr(&self, e: &str) -> String {
        let e = e.trim();
        if let Some(rest) = e.strip_prefix("needs.") {
            let (job, out) = rest.split_once(".outputs.").unwrap();
            return self.outputs[job]
                .get(out)
                .unwrap_or_else(|| panic!("job {job} set no output {out}"))
                .clone();
        }
        match e {
            "github.repository" => "acme/app".into(),
            "github.sha" => SHA.into(),
            "github.run_id" => "4242".into(),
            "github.event_name" => self.event.into(),
            "matrix.environment" => self.matrix_env.clone().expect("a matrix job"),
            other => panic!("the emulator has no value for ${{{{ {other} }}}}"),
        }
    }

    fn fill(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").unwrap() + i;
            out.push_str(&self.expr(&rest[i + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Runs one job's steps; Err(output of the failing step).
    fn run_job(&mut self, id: &str) -> Result<(), String> {
        let job = get(get(self.doc, "jobs").unwrap(), id).unwrap_or_else(|| panic!("job {id}"));
        let workdir = self.root.join(TF_DIR);
        let mut env: Vec<(String, String)> = Vec::new();
        for (k, v) in env_map(get(self.doc, "env"))
            .into_iter()
            .chain(env_map(get(job, "env")))
        {
            env.push((k, self.fill(&v)));
        }
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let steps = get(job, "steps").and_then(Value::as_sequence).unwrap();
        for step in steps {
            if let Some(uses) = get(step, "uses").and_then(Value::as_str) {
                let with = get(step, "with");
                let arg = |k: &str| with.and_then(|w| get(w, k)).and_then(Value::as_str);
                if uses.starts_with("actions/upload-artifact@") {
                    let path = self.root.join(arg("path").unwrap());
                    let bytes = std::fs::read(&path)
                        .map_err(|e| format!("upload {}: {e}", path.display()))?;
                    self.artifacts.insert(arg("name").unwrap().into(), bytes);
                } else if uses.starts_with("actions/download-artifact@") {
                    let name = arg("name").unwrap();
                    let bytes = self
                        .artifacts
                        .get(name)
                        .ok_or(format!("no artifact {name}"))?;
                    // One file per artifact: the plan.
                    std::fs::write(self.root.join(arg("path").unwrap()).join("tfplan"), bytes)
                        .unwrap();
                }
                continue;
            }
            let script = get(step, "run").and_then(Value::as_str).unwrap();
            let gh_output = self.root.join(format!("github-output-{id}"));
            let summary = self.root.join(format!("github-summary-{id}"));
            std::fs::write(&gh_output, "").unwrap();
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
                .current_dir(&workdir)
                .env(
                    "PATH",
                    format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap()),
                )
                .env("SHIPREADY_REAL_TERRAFORM", &terraform().bin)
                .env("SHIPREADY_TF_LOG", &self.log)
                .env("TF_CLI_CONFIG_FILE", &terraform().cli_config)
                .env("CHECKPOINT_DISABLE", "1")
                .env("GITHUB_OUTPUT", &gh_output)
                .env("GITHUB_STEP_SUMMARY", &summary);
            for (k, _) in std::env::vars() {
                if k.starts_with("TF_VAR_") || k.starts_with("AWS_") {
                    cmd.env_remove(k);
                }
            }
            for (k, v) in env.iter().cloned().chain(env_map(get(step, "env"))) {
                let v = self.fill(&v);
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            if !out.status.success() {
                return Err(format!(
                    "job {id}, step {:?}:\n{}{}",
                    get(step, "name").and_then(Value::as_str),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            if let Some(sid) = get(step, "id").and_then(Value::as_str) {
                let text = std::fs::read_to_string(&gh_output).unwrap();
                let outs = text
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                step_outputs.insert(sid.to_string(), outs);
            }
        }
        let mut outs = BTreeMap::new();
        for (k, v) in env_map(get(job, "outputs")) {
            let inner = v
                .trim()
                .strip_prefix("${{")
                .and_then(|v| v.strip_suffix("}}"))
                .unwrap()
                .trim();
            let (sid, key) = inner
                .strip_prefix("steps.")
                .and_then(|r| r.split_once(".outputs."))
                .unwrap();
            let value = step_outputs
                .get(sid)
                .and_then(|o| o.get(key))
                .cloned()
                .unwrap_or_default();
            outs.insert(k, value);
        }
        self.outputs.insert(id.to_string(), outs);
        Ok(())
    }
}

struct Repo {
    run: common::Run,
    bin: tempfile::TempDir,
    doc: Value,
}

/// A generated repository whose test file sets no variables: every value
/// comes from the tfvars and from what the workflow passes, as on GitHub.
fn repo(preset: &str, edit_workflow: impl Fn(String) -> String) -> Repo {
    let run = common::init_preset(preset);
    let test_file = run.path().join(TF_DIR).join("tests/plan.tftest.hcl");
    let text = std::fs::read_to_string(&test_file).unwrap();
    let start = text.find("\nvariables {").expect("a variables block");
    let end = start + text[start..].find("\n}\n").unwrap() + 3;
    std::fs::write(&test_file, format!("{}{}", &text[..start], &text[end..])).unwrap();

    let bin = tempfile::tempdir().unwrap();
    let wrapper = bin.path().join("terraform");
    std::fs::write(&wrapper, WRAPPER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let doc: Value =
        serde_norway::from_str(&edit_workflow(run.read(".github/workflows/terraform.yml")))
            .unwrap();
    Repo { run, bin, doc }
}

impl Repo {
    fn emulator(&self, event: &'static str) -> Emulator<'_> {
        Emulator {
            doc: &self.doc,
            root: self.run.path().to_path_buf(),
            bin: self.bin.path().to_path_buf(),
            log: self.run.path().join("terraform-calls.log"),
            artifacts: BTreeMap::new(),
            outputs: BTreeMap::new(),
            event,
            matrix_env: None,
        }
    }
}

/// A push to the main branch: plan, then apply, each environment in order.
fn push_to_main(repo: &Repo) -> Result<Vec<String>, String> {
    let mut emu = repo.emulator("push");
    let mut ran = Vec::new();
    // In the workflow's order, which is the order `needs:` makes GitHub run them.
    let jobs: Vec<String> = get(&repo.doc, "jobs")
        .and_then(Value::as_mapping)
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| k.starts_with("plan-") || k.starts_with("apply-"))
        .map(str::to_string)
        .collect();
    for id in jobs {
        emu.run_job(&id)?;
        ran.push(id);
    }
    Ok(ran)
}

/// A push to main plans and applies every environment in order, applying
/// the plan file planned before the gate; a plan file changed in between is
/// refused before Terraform sees it. A pull request plans each environment.
#[test]
fn workflow_plans_and_applies_the_approved_plan_on_main() {
    let started = Instant::now();
    let repo = repo("fastapi-three-tier", |w| w);
    let ran = push_to_main(&repo).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ran,
        [
            "plan-staging",
            "apply-staging",
            "plan-production",
            "apply-production"
        ]
    );
    let log_path = repo.run.path().join("terraform-calls.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(log.matches("terraform apply").count(), 2, "{log}");

    // Tamper with the staging plan artifact, then run its apply job again.
    let mut emu = repo.emulator("push");
    emu.run_job("plan-staging").unwrap();
    let sha = emu.outputs["plan-staging"]["sha256"].clone();
    assert_eq!(sha.len(), 64, "{sha}");
    emu.artifacts
        .get_mut("tfplan-staging")
        .unwrap()
        .extend_from_slice(b"tampered");
    std::fs::write(&log_path, "").unwrap();
    let err = emu.run_job("apply-staging").expect_err("a changed plan");
    assert!(err.contains("FAILED"), "{err}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("terraform apply"), "{log}");

    // The pull request plan, one matrix leg (the others differ only in name).
    let mut emu = repo.emulator("pull_request");
    emu.matrix_env = Some("production".into());
    emu.run_job("plan")
        .unwrap_or_else(|e| panic!("pull request plan: {e}"));
    eprintln!(
        "ran the workflow's plan and apply jobs in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Without the image tag the workflow passes, the plan step fails, naming
/// the variable; this is what every run did before the workflow set it.
#[test]
fn workflow_plan_fails_without_the_image_tag() {
    let repo = repo("node-dashboard", |w| {
        let line = w
            .lines()
            .find(|l| l.trim_start().starts_with("TF_VAR_image_tag:"))
            .expect("the workflow sets the image tag")
            .to_string();
        w.replace(&format!("{line}\n"), "")
    });
    let err = push_to_main(&repo).expect_err("plan must fail without image_tag");
    assert!(
        err.contains("No value for required variable") && err.contains("image_tag"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// The Kubernetes target's node alarms, planned by the real provider.

/// Runs appended to the generated test file's mocks: the node alarms from
/// EC2 always, and Container Insights' add-on and alarms only when asked.
const EKS_ALARM_RUNS: &str = r#"
variables {
  github_repository = "acme/app"
}

run "nodes_from_ec2" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.eks_node_status_check.namespace == "AWS/EC2" && aws_cloudwatch_metric_alarm.eks_node_status_check.metric_name == "StatusCheckFailed" && aws_cloudwatch_metric_alarm.eks_node_status_check.threshold == 0 && join(",", keys(aws_cloudwatch_metric_alarm.eks_node_status_check.dimensions)) == "AutoScalingGroupName"
    error_message = "a node failing its status checks alarms, over the node group's Auto Scaling group"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.eks_node_cpu.metric_name == "CPUUtilization" && aws_cloudwatch_metric_alarm.eks_node_cpu.threshold == 80 && join(",", keys(aws_cloudwatch_metric_alarm.eks_node_cpu.dimensions)) == "AutoScalingGroupName"
    error_message = "node CPU alarms over the node group"
  }

  assert {
    condition     = length(aws_eks_addon.container_insights) == 0 && length(aws_cloudwatch_metric_alarm.eks_cluster) == 0 && length(aws_iam_role.cloudwatch_agent) == 0
    error_message = "no Container Insights unless asked for"
  }
}

run "cluster_from_container_insights" {
  command = plan

  variables {
    eks_container_insights = true
  }

  assert {
    condition     = aws_eks_addon.container_insights[0].addon_name == "amazon-cloudwatch-observability" && one(aws_eks_addon.container_insights[0].pod_identity_association).service_account == "cloudwatch-agent"
    error_message = "the Container Insights add-on, its agent under its own Pod Identity role"
  }

  assert {
    condition     = aws_iam_role_policy_attachment.cloudwatch_agent[0].policy_arn == "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
    error_message = "the agent may publish metrics and logs, nothing more"
  }

  assert {
    condition     = { for k, a in aws_cloudwatch_metric_alarm.eks_cluster : k => "${a.namespace}/${a.metric_name}" } == { failed-nodes = "ContainerInsights/cluster_failed_node_count", node-cpu = "ContainerInsights/node_cpu_utilization", node-memory = "ContainerInsights/node_memory_utilization" }
    error_message = "failed nodes, node CPU and node memory as the cluster reports them"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.eks_cluster["failed-nodes"].threshold == 0 && aws_cloudwatch_metric_alarm.eks_cluster["failed-nodes"].evaluation_periods * aws_cloudwatch_metric_alarm.eks_cluster["failed-nodes"].period == 300
    error_message = "one failed node for five minutes alarms"
  }
}
"#;

#[test]
fn eks_node_alarms_plan_with_and_without_container_insights() {
    let tf = terraform();
    let started = Instant::now();
    let run = common::init_preset_with("fastapi-three-tier", &["deploy.target=kubernetes"]);
    let dir = run.path().join(TF_DIR);
    let generated = std::fs::read_to_string(dir.join("tests/plan.tftest.hcl")).unwrap();
    let mocks = &generated[..generated
        .find("\nvariables {")
        .expect("the generated test file sets variables after its mocks")];
    std::fs::write(
        dir.join("tests/eks_alarms.tftest.hcl"),
        format!("{mocks}\n{EKS_ALARM_RUNS}"),
    )
    .unwrap();
    tf.init(&dir);
    let out = tf.ok(
        &dir,
        &[
            "test",
            "-no-color",
            "-filter=tests/eks_alarms.tftest.hcl",
            "-var-file=environments/production.tfvars",
        ],
    );
    for name in ["nodes_from_ec2", "cluster_from_container_insights"] {
        assert!(out.contains(&format!("run \"{name}\"... pass")), "{out}");
    }
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    eprintln!(
        "planned the EKS node alarms twice in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
