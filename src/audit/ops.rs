//! Operations: alerting rules and their tests (Prometheus, CloudWatch),
//! CI scans and permissions, deploys with rollback, Terraform, environments.

use std::collections::BTreeSet;

use super::facts::Ctx;
use super::probe::Outcome;
use super::report::Evidence;
use super::walk::*;
use super::{gap, pass};
use Outcome::{Gap, Na, Pass};

/// Prometheus rule files: YAML (or `.rules`) with `groups:` holding alerts.
fn rule_files<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo
        .matching(is_rules_candidate)
        .filter(|f| !is_compose(&f.path) && !is_workflow(&f.path))
        .filter(|f| {
            rx!(r"(?m)^groups:").is_match(&f.text)
                && rx!(r"(?m)^\s*-?\s*alert:\s*\S").is_match(&f.text)
        })
        .collect()
}

fn cloudwatch_alarms(ctx: &Ctx) -> Vec<Evidence> {
    ctx.repo
        .grep(is_tf, rx!(r#"resource\s+"aws_cloudwatch_metric_alarm""#))
}

pub fn al_rules(ctx: &Ctx) -> Outcome {
    let files = rule_files(ctx);
    let alarms = cloudwatch_alarms(ctx);
    if files.is_empty() && alarms.is_empty() {
        return gap("no Prometheus alerting rules or CloudWatch alarms");
    }
    let alerts: Vec<Evidence> = files
        .iter()
        .flat_map(|f| grep_file(f, rx!(r"^\s*-?\s*alert:\s*\S")))
        .collect();
    let mut parts = Vec::new();
    if !alerts.is_empty() {
        parts.push(format!("{} alerts in {} files", alerts.len(), files.len()));
    }
    if !alarms.is_empty() {
        parts.push(format!("{} CloudWatch alarms", alarms.len()));
    }
    Pass(
        alerts
            .iter()
            .chain(alarms.iter())
            .take(1)
            .cloned()
            .collect(),
        parts.join(", "),
    )
}

pub fn al_tests(ctx: &Ctx) -> Outcome {
    let tests: Vec<&SourceFile> = ctx
        .repo
        .matching(is_yaml)
        .filter(|f| {
            rx!(r"(?m)^rule_files:").is_match(&f.text)
                && rx!(r"(?m)^\s*alert_rule_test:|^tests:").is_match(&f.text)
        })
        .collect();
    if tests.is_empty() {
        if rule_files(ctx).is_empty() && !cloudwatch_alarms(ctx).is_empty() {
            return Na("CloudWatch alarms only: promtool tests Prometheus rules".into());
        }
        return gap("no promtool rule tests (rule_files + tests)");
    }
    // Each test must point at rule files that exist.
    let mut broken = Vec::new();
    let paths: BTreeSet<&str> = ctx.repo.files.iter().map(|f| f.path.as_str()).collect();
    for t in &tests {
        let dir = t.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut in_list = false;
        for (i, l) in t.text.lines().enumerate() {
            if l.starts_with("rule_files:") {
                in_list = true;
                continue;
            }
            if in_list {
                match l.trim().strip_prefix("- ") {
                    Some(p) => {
                        let p = p.trim().trim_matches(['"', '\'']);
                        let joined = normalise_join(dir, p);
                        if !p.contains('*') && !paths.contains(joined.as_str()) {
                            broken.push(ev(&t.path, i + 1, l));
                        }
                    }
                    None if l.trim().is_empty() => {}
                    None => in_list = false,
                }
            }
        }
    }
    if !broken.is_empty() {
        return Gap(
            broken,
            "rule tests name rule files that do not exist".into(),
        );
    }
    let proof = tests
        .iter()
        .filter_map(|f| {
            grep_file(f, rx!(r"^\s*-?\s*alertname:|^\s*alert_rule_test:"))
                .into_iter()
                .next()
        })
        .collect();
    Pass(proof, format!("{} promtool test files", tests.len()))
}

fn normalise_join(dir: &str, p: &str) -> String {
    let mut parts: Vec<&str> = if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for seg in p.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

pub fn al_runbooks(ctx: &Ctx) -> Outcome {
    let files = rule_files(ctx);
    let alarms = cloudwatch_alarms(ctx);
    if files.is_empty() && alarms.is_empty() {
        return gap("no alerting rules");
    }
    let mut missing = Vec::new();
    let mut total = 0;
    // A CloudWatch alarm links its runbook in alarm_description.
    for f in ctx.repo.matching(is_tf) {
        let lines: Vec<&str> = f.text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !rx!(r#"resource\s+"aws_cloudwatch_metric_alarm""#).is_match(l) {
                continue;
            }
            total += 1;
            let end = lines[i + 1..]
                .iter()
                .position(|x| x.starts_with('}'))
                .map_or(lines.len(), |p| i + 1 + p);
            let linked = lines[i..end].iter().any(|x| {
                x.contains("alarm_description") && rx!(r"(?i)https?://|runbook").is_match(x)
            });
            if !linked {
                missing.push(ev(&f.path, i + 1, l));
            }
        }
    }
    for f in files {
        let lines: Vec<&str> = f.text.lines().collect();
        let starts: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| rx!(r"^\s*-\s*(alert|record):").is_match(l))
            .map(|(i, _)| i)
            .collect();
        for (n, &s) in starts.iter().enumerate() {
            if !rx!(r"^\s*-\s*alert:").is_match(lines[s]) {
                continue;
            }
            total += 1;
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            if !lines[s..end].iter().any(|l| l.contains("runbook_url")) {
                missing.push(ev(&f.path, s + 1, lines[s]));
            }
        }
    }
    if missing.is_empty() {
        Pass(Vec::new(), format!("all {total} alerts link a runbook"))
    } else {
        Gap(
            missing,
            "alerts without a runbook_url annotation (or a runbook link in alarm_description)"
                .into(),
        )
    }
}

fn workflows<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo.matching(is_workflow).collect()
}

pub fn ci_scans(ctx: &Ctx) -> Outcome {
    let scanners = rx!(
        r"(?i)\b(trivy|grype|checkov|tfsec|codeql|snyk|semgrep|osv-scanner|gitleaks|trufflehog|dependency-review|docker scout|pip-audit|npm audit|bandit|zizmor)\b"
    );
    let found = ctx.repo.grep(is_workflow, scanners);
    if found.is_empty() {
        return gap("CI runs no security scanner (image, IaC, dependencies or secrets)");
    }
    let kinds: BTreeSet<String> = found
        .iter()
        .filter_map(|e| {
            scanners
                .find(&e.text)
                .map(|m| m.as_str().to_ascii_lowercase())
        })
        .collect();
    Pass(
        found.into_iter().take(3).collect(),
        format!(
            "scanners: {}",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

pub fn ci_permissions(ctx: &Ctx) -> Outcome {
    let files: Vec<&SourceFile> = workflows(ctx)
        .into_iter()
        .filter(|f| f.path != ".gitlab-ci.yml")
        .collect();
    if files.is_empty() {
        return gap("no GitHub workflows");
    }
    let missing: Vec<Evidence> = files
        .iter()
        .filter(|f| !rx!(r"(?m)^permissions:").is_match(&f.text))
        .map(|f| ev(&f.path, 1, f.text.lines().next().unwrap_or("")))
        .collect();
    if missing.is_empty() {
        Pass(
            files
                .iter()
                .filter_map(|f| grep_file(f, rx!(r"^permissions:")).into_iter().next())
                .take(1)
                .collect(),
            format!("all {} workflows set top-level permissions", files.len()),
        )
    } else {
        Gap(
            missing,
            "workflows without top-level permissions get a broad default token".into(),
        )
    }
}

pub fn ci_pinned(ctx: &Ctx) -> Outcome {
    let uses = ctx.repo.grep(is_workflow, rx!(r"^\s*(-\s*)?uses:\s*\S"));
    let remote: Vec<&Evidence> = uses
        .iter()
        .filter(|e| !e.text.contains("uses: ./") && !e.text.contains("docker://"))
        .collect();
    if remote.is_empty() {
        return if workflows(ctx).is_empty() {
            gap("no GitHub workflows")
        } else {
            Na("no third-party actions".into())
        };
    }
    let sha = rx!(r"@[0-9a-f]{40}\b");
    let bad: Vec<Evidence> = remote
        .iter()
        .filter(|e| !sha.is_match(&e.text))
        .map(|e| (*e).clone())
        .collect();
    if bad.is_empty() {
        Pass(
            remote.into_iter().take(1).cloned().collect(),
            "every action is pinned to a full commit SHA".into(),
        )
    } else {
        Gap(bad, "actions referenced by a movable tag or branch".into())
    }
}

fn deploy_files<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    workflows(ctx)
        .into_iter()
        .filter(|f| {
            file_name(&f.path).contains("deploy") || rx!(r"(?m)^\s+environment:").is_match(&f.text)
        })
        .collect()
}

pub fn dp_workflow(ctx: &Ctx) -> Outcome {
    match deploy_files(ctx).first() {
        Some(f) => pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            "deploys run from CI",
        ),
        None => gap("no deploy workflow"),
    }
}

pub fn dp_rollback(ctx: &Ctx) -> Outcome {
    if let Some(e) = deploy_files(ctx)
        .iter()
        .find_map(|f| grep_file(f, rx!(r"(?i)roll ?back")).into_iter().next())
    {
        return pass(e, "a failed deploy is rolled back");
    }
    let breaker = ctx.repo.first(is_tf, rx!(r"deployment_circuit_breaker"));
    let rollback = ctx.repo.first(is_tf, rx!(r"^\s*rollback\s*=\s*true"));
    if let (Some(b), Some(r)) = (breaker, rollback) {
        return Pass(vec![b, r], "ECS rolls back a deployment that fails".into());
    }
    gap("no rollback when a deploy fails")
}

pub fn dp_smoke(ctx: &Ctx) -> Outcome {
    let found = deploy_files(ctx).iter().find_map(|f| {
        grep_file(f, rx!(r"(?i)smoke|curl\b.*health|wget\b.*health"))
            .into_iter()
            .next()
    });
    match found {
        Some(e) => pass(e, "the deploy checks the service answers"),
        None => gap("no smoke test after a deploy"),
    }
}

pub fn dp_oidc(ctx: &Ctx) -> Outcome {
    let keys = ctx.repo.grep(
        is_workflow,
        rx!(r"aws-access-key-id:|AWS_SECRET_ACCESS_KEY:\s*\$\{\{\s*secrets"),
    );
    if !keys.is_empty() {
        return Gap(keys, "long-lived cloud keys are stored in CI".into());
    }
    let aws = ctx
        .repo
        .first(is_workflow, rx!(r"aws-actions/configure-aws-credentials"));
    let Some(aws) = aws else {
        return if ctx.repo.first(is_tf, rx!(r#"provider\s+"aws""#)).is_some() {
            gap("Terraform targets AWS but no workflow assumes a role through OIDC")
        } else {
            Na("CI does not reach a cloud".into())
        };
    };
    let role = ctx.repo.first(is_workflow, rx!(r"role-to-assume:"));
    let token = ctx.repo.first(is_workflow, rx!(r"id-token:\s*write"));
    match (role, token) {
        (Some(r), Some(t)) => Pass(
            vec![aws, r, t],
            "CI assumes a role with a short-lived OIDC token".into(),
        ),
        _ => gap("configure-aws-credentials without role-to-assume and id-token: write"),
    }
}

pub fn iac_present(ctx: &Ctx) -> Outcome {
    if let Some(e) = ctx.repo.first(is_tf, rx!(r#"^\s*(resource|module)\s+""#)) {
        let n = ctx
            .repo
            .grep(is_tf, rx!(r#"^\s*(resource|module)\s+""#))
            .len();
        return pass(e, &format!("{n} Terraform resources and modules"));
    }
    if let Some(f) = ctx
        .repo
        .files
        .iter()
        .find(|f| matches!(file_name(&f.path), "Pulumi.yaml" | "cdk.json"))
    {
        return pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            "infrastructure is code",
        );
    }
    gap("no Terraform (or Pulumi/CDK): the cloud is configured by hand")
}

pub fn iac_pinned(ctx: &Ctx) -> Outcome {
    if ctx.repo.matching(is_tf).next().is_none() {
        return gap("no Terraform");
    }
    let v = ctx
        .repo
        .first(is_tf, rx!(r#"^\s*required_version\s*=\s*""#));
    let p = ctx.repo.first(is_tf, rx!(r"^\s*required_providers\s*\{"));
    match (v, p) {
        (Some(a), Some(b)) => Pass(
            vec![a, b],
            "Terraform and provider versions are constrained".into(),
        ),
        (None, _) => gap("no required_version"),
        (_, None) => gap("no required_providers"),
    }
}

pub fn iac_state(ctx: &Ctx) -> Outcome {
    if ctx.repo.matching(is_tf).next().is_none() {
        return gap("no Terraform");
    }
    match ctx.repo.first(
        is_tf,
        rx!(r#"^\s*backend\s+"(s3|gcs|azurerm|remote|http|pg|consul)"|^\s*cloud\s*\{"#),
    ) {
        Some(e) => pass(e, "state is shared and locked remotely"),
        None => gap("Terraform state is local: it is lost with the laptop that ran apply"),
    }
}

fn tfvars_envs(ctx: &Ctx) -> Vec<(String, Evidence)> {
    ctx.repo
        .matching(is_tfvars)
        .filter(|f| file_name(&f.path) != "terraform.tfvars")
        .map(|f| {
            let stem = file_name(&f.path).trim_end_matches(".tfvars").to_string();
            (stem, ev(&f.path, 1, f.text.lines().next().unwrap_or("")))
        })
        .collect()
}

pub fn env_config(ctx: &Ctx) -> Outcome {
    let envs = tfvars_envs(ctx);
    if envs.len() >= 2 {
        return Pass(
            envs.iter().map(|(_, e)| e.clone()).collect(),
            format!(
                "environments: {}",
                envs.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    gap(match envs.len() {
        1 => format!("only one environment ({})", envs[0].0),
        _ => {
            "no per-environment configuration (e.g. staging.tfvars, production.tfvars)".to_string()
        }
    })
}

pub fn env_deploy(ctx: &Ctx) -> Outcome {
    let files = deploy_files(ctx);
    if files.is_empty() {
        return gap("no deploy workflow");
    }
    let known: Vec<String> = tfvars_envs(ctx).into_iter().map(|(n, _)| n).collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut proof = Vec::new();
    for f in &files {
        let lines: Vec<&str> = f.text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(rest) = l.trim().strip_prefix("environment:") else {
                continue;
            };
            let mut value = rest.trim().to_string();
            if value.is_empty() {
                // environment:\n  name: staging
                if let Some(n) = lines
                    .get(i + 1)
                    .and_then(|n| n.trim().strip_prefix("name:"))
                {
                    value = n.trim().to_string();
                }
            }
            let value = value.trim_matches(['"', '\'']).to_string();
            if value.contains("${{") {
                // An expression: count the environments the file names.
                for k in &known {
                    if f.text.contains(k.as_str()) {
                        names.insert(k.clone());
                    }
                }
            } else if !value.is_empty() {
                names.insert(value);
            }
            proof.push(ev(&f.path, i + 1, l));
        }
    }
    if names.len() >= 2 {
        Pass(
            proof,
            format!(
                "deploys go through {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    } else {
        Gap(
            proof,
            "the deploy does not stage through separate environments".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_join;

    #[test]
    fn join_paths() {
        assert_eq!(
            normalise_join("monitoring/prometheus/tests", "../rules/app.yml"),
            "monitoring/prometheus/rules/app.yml"
        );
        assert_eq!(normalise_join("", "rules.yml"), "rules.yml");
    }
}
