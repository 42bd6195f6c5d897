//! The Terraform of the Kubernetes target (`deploy.target = "kubernetes"`):
//! EKS beside the same VPC, stores, key, registry and backups, with the
//! ECS-only files and blocks left out. The same bar as the ECS tree: `fmt`,
//! `validate` by the real Terraform CLI and AWS provider, a full plan of each
//! environment through `terraform test` with the generated mock provider,
//! and checkov with no failed check.
//!
//! The EKS files vary by preset only through features (worker, Postgres,
//! Redis role, voice provider), so one preset that has all stores, a worker
//! and sidecars is planned; the presets that differ in the features the EKS
//! files read (a voice secret; no database) are validated.

use crate::common;

use std::time::Instant;

use common::terraform::terraform;
use shipready::verify::terraform::{CHECKOV, DIR, FMT};
use shipready::verify::Outcome;

const KUBERNETES: &str = "deploy.target=kubernetes";

fn init_kubernetes(preset: &str) -> common::Run {
    common::init_preset_with(preset, &[KUBERNETES])
}

fn tf_names(run: &common::Run) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.path().join(DIR))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tf"))
        .collect();
    names.sort();
    names
}

fn passes(outcome: Outcome, what: &str) {
    assert!(matches!(outcome, Outcome::Pass), "{what}: {outcome:?}");
}

#[test]
fn eks_tree_formats_validates_plans_and_passes_checkov() {
    let tf = terraform();
    common::require_tool("checkov");
    let started = Instant::now();
    let run = init_kubernetes("fastapi-three-tier");
    let names = tf_names(&run);
    for want in [
        "eks.tf",
        "eks_identity.tf",
        "rds.tf",
        "elasticache.tf",
        "backups.tf",
    ] {
        assert!(names.contains(&want.to_string()), "no {want}: {names:?}");
    }
    for gone in ["ecs.tf", "sidecars.tf"] {
        assert!(
            !names.contains(&gone.to_string()),
            "{gone} is ECS-only: {names:?}"
        );
    }
    let root = run.path();
    passes((FMT.run)(root, DIR), "terraform fmt");
    let dir = root.join(DIR);
    tf.init(&dir);
    tf.ok(&dir, &["validate", "-no-color"]);
    for env in ["staging", "production"] {
        let var_file = format!("-var-file=environments/{env}.tfvars");
        let out = tf.ok(&dir, &["test", "-no-color", &var_file]);
        assert!(
            out.contains("run \"plan\"... pass") && out.contains("1 passed, 0 failed"),
            "{env}: {out}"
        );
    }
    passes((CHECKOV.run)(root, DIR), "checkov");

    // The plan's assertions can say no: nodes that let IMDSv1 through fail.
    let eks = dir.join("eks.tf");
    let text = std::fs::read_to_string(&eks).unwrap();
    let broken = text.replacen(
        "http_tokens                 = \"required\"",
        "http_tokens                 = \"optional\"",
        1,
    );
    assert_ne!(
        broken, text,
        "eks.tf no longer requires IMDSv2 where expected"
    );
    std::fs::write(&eks, broken).unwrap();
    let (ok, out) = tf.run(
        &dir,
        &["test", "-no-color", "-var-file=environments/staging.tfvars"],
    );
    assert!(
        !ok && out.contains("require IMDSv2"),
        "a plan with IMDSv1 allowed passed:\n{out}"
    );
    eprintln!(
        "EKS tree: fmt, validate, 2 plans, checkov in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The features the EKS files read, beyond the planned preset: the voice
/// provider's secret (read by the External Secrets role), with and without
/// a database (database rights for the pods exactly when there is one).
#[test]
fn eks_tree_validates_for_the_other_feature_sets() {
    let tf = terraform();
    for preset in ["twilio-voice", "ringcentral-hold-hunter"] {
        let run = init_kubernetes(preset);
        passes((FMT.run)(run.path(), DIR), preset);
        let dir = run.path().join(DIR);
        tf.init(&dir);
        tf.ok(&dir, &["validate", "-no-color"]);
        let identity = run.read(&format!("{DIR}/eks_identity.tf"));
        // Both are voice presets: the External Secrets role reads the
        // provider's secret, declared here since ecs.tf is not rendered.
        assert!(
            identity.contains("aws_secretsmanager_secret.app.arn")
                && identity.contains("resource \"aws_secretsmanager_secret\" \"app\""),
            "{preset}: the voice secret and the right to read it"
        );
        assert_eq!(
            identity.contains("rds-db:connect"),
            dir.join("rds.tf").exists(),
            "{preset}: database rights exactly when there is a database"
        );
    }
}

/// What the ECS target alone uses never reaches the Kubernetes tree, and
/// what Kubernetes alone uses never reaches the ECS tree.
#[test]
fn each_target_renders_only_its_own_compute() {
    let ecs = common::init_preset("fastapi-three-tier");
    let k8s = init_kubernetes("fastapi-three-tier");
    let all = |run: &common::Run| -> String {
        tf_names(run)
            .iter()
            .map(|n| run.read(&format!("{DIR}/{n}")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (ecs_text, k8s_text) = (all(&ecs), all(&k8s));
    for ecs_only in [
        "resource \"aws_ecs_",
        "resource \"aws_lb\"",
        "resource \"aws_wafv2_web_acl\"",
        "resource \"aws_acm_certificate\"",
        "aws_security_group.app.id",
        "variable \"app_cpu\"",
    ] {
        assert!(ecs_text.contains(ecs_only), "ECS tree lacks {ecs_only}");
        assert!(
            !k8s_text.contains(ecs_only),
            "Kubernetes tree has {ecs_only}"
        );
    }
    for k8s_only in [
        "resource \"aws_eks_cluster\"",
        "resource \"aws_eks_pod_identity_association\"",
        "resource \"aws_eks_access_entry\"",
        "eks:DescribeCluster",
    ] {
        assert!(
            k8s_text.contains(k8s_only),
            "Kubernetes tree lacks {k8s_only}"
        );
        assert!(!ecs_text.contains(k8s_only), "ECS tree has {k8s_only}");
    }
    // Both share the stores and their backups.
    for shared in [
        "aws_db_instance",
        "aws_elasticache_replication_group",
        "aws_s3_bucket.backups",
    ] {
        assert!(
            ecs_text.contains(shared) && k8s_text.contains(shared),
            "{shared}"
        );
    }
    let tfvars = k8s.read(&format!("{DIR}/environments/production.tfvars"));
    assert!(
        tfvars.contains("eks_node_min") && !tfvars.contains("app_cpu"),
        "{tfvars}"
    );
}

/// Secrets the ExternalSecrets read that Terraform creates but people fill:
/// the voice provider's credentials and the restore test's private key
/// (which must not pass through Terraform's state).
const FILLED_BY_THE_TEAM: &[&str] = &["app", "backup-verify"];

/// `name suffix => keys` of every Secrets Manager secret the Terraform tree
/// writes a value into: `Some(keys)` for a `jsonencode({...})` document,
/// `None` for a plain string.
fn written_secrets(tf: &str) -> std::collections::BTreeMap<String, Option<Vec<String>>> {
    let secret = regex::Regex::new(
        r#"(?s)resource "aws_secretsmanager_secret" "(\w+)" \{.*?\n  name\s*= "\$\{local\.name\}/([^"]+)""#,
    )
    .unwrap();
    let version = regex::Regex::new(
        r#"(?s)resource "aws_secretsmanager_secret_version" "\w+" \{\s*secret_id\s*= aws_secretsmanager_secret\.(\w+)\.id\s*secret_string\s*=\s*(jsonencode\(\{(.*?)\}\)|[^\n]+)"#,
    )
    .unwrap();
    let key = regex::Regex::new(r"(?m)^\s*(\w+)\s*=").unwrap();
    let names: std::collections::BTreeMap<String, String> = secret
        .captures_iter(tf)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    version
        .captures_iter(tf)
        .map(|c| {
            let name = names
                .get(&c[1])
                .unwrap_or_else(|| panic!("a version of an unnamed secret {}", &c[1]))
                .clone();
            let keys = c.get(3).map(|body| {
                key.captures_iter(body.as_str())
                    .map(|k| k[1].to_string())
                    .collect()
            });
            (name, keys)
        })
        .collect()
}

#[test]
fn terraform_writes_every_key_the_external_secrets_read_and_checks_the_age_keys() {
    let run = init_kubernetes("fastapi-three-tier");
    let tf: String = tf_names(&run)
        .iter()
        .map(|n| run.read(&format!("{DIR}/{n}")))
        .collect::<Vec<_>>()
        .join("\n");
    let written = written_secrets(&tf);
    for want in [
        "endpoints",
        "backup",
        "redis-auth-token",
        "postgres-exporter",
    ] {
        assert!(written.contains_key(want), "{want}: {written:?}");
    }
    let identity = run.read(&format!("{DIR}/eks_identity.tf"));
    let mut checked = 0;
    for env in ["staging", "production"] {
        let prefix = format!("voice-api-{env}/");
        let text = run.read(&format!("deploy/k8s/overlays/{env}/external-secrets.yaml"));
        for doc in text.split("\n---\n") {
            let doc: serde_norway::Value = serde_norway::from_str(doc).unwrap();
            let es = doc["metadata"]["name"].as_str().unwrap().to_string();
            for d in doc["spec"]["data"].as_sequence().unwrap() {
                let remote = d["remoteRef"]["key"].as_str().unwrap();
                let name = remote
                    .strip_prefix(&prefix)
                    .unwrap_or_else(|| panic!("{es} reads {remote}, not this environment's"));
                let property = d["remoteRef"]["property"].as_str();
                if FILLED_BY_THE_TEAM.contains(&name) {
                    // Still readable by the External Secrets controller.
                    let arn = identity.contains(&format!("aws_secretsmanager_secret.{name}.arn"))
                        || identity.contains(&format!("${{local.name}}/{name}-??????"));
                    assert!(arn, "{es}: the controller may not read {remote}");
                    continue;
                }
                let keys = written
                    .get(name)
                    .unwrap_or_else(|| panic!("{es} reads {remote}, which Terraform never writes"));
                match (property, keys) {
                    (Some(p), Some(keys)) => assert!(
                        keys.iter().any(|k| k == p),
                        "{es} reads {remote}.{p}; Terraform writes {keys:?}"
                    ),
                    (None, None) => {}
                    (p, k) => panic!("{es}: {remote} property {p:?}, written as {k:?}"),
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} keys checked");

    // The recipients' validation, through a real plan: a key that is not
    // an age recipient stops it; a real one (age-keygen) plans.
    let tf = terraform();
    let dir = run.path().join(DIR);
    tf.init(&dir);
    let plan = |recipients: &str| {
        tf.run(
            &dir,
            &[
                "test",
                "-no-color",
                "-var-file=environments/staging.tfvars",
                &format!("-var=backup_age_recipients=[\"{recipients}\"]"),
            ],
        )
    };
    let (ok, out) = plan("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK");
    assert!(
        !ok && out.contains("backup_age_recipients must hold age public keys"),
        "a non-age recipient planned:\n{out}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let identity_file = scratch.path().join("key");
    let generated = std::process::Command::new(common::require_tool("age-keygen"))
        .arg("-o")
        .arg(&identity_file)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let public = std::process::Command::new(common::require_tool("age-keygen"))
        .arg("-y")
        .arg(&identity_file)
        .output()
        .unwrap();
    let public = String::from_utf8(public.stdout).unwrap();
    let (ok, out) = plan(public.trim());
    assert!(
        ok && out.contains("1 passed, 0 failed"),
        "a real age recipient did not plan cleanly:\n{out}"
    );
    eprintln!("{checked} ExternalSecret keys matched to what Terraform writes");
}
