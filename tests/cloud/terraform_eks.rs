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
