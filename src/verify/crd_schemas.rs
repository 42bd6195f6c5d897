//! Custom resources (cert-manager, External Secrets Operator, Prometheus
//! Operator) checked against their CRDs' schemas, and the built manifests
//! scanned by trivy.
//!
//! The CRD schemas come from the pinned `@kubernetes-models` npm packages;
//! `scripts/crd-schemas/validate-crds.mjs` checks values with each schema's
//! validator and unknown fields with the package's types, installed with
//! its packages as [`CRD_VALIDATOR`] by `scripts/install-test-deps.sh`. Each
//! overlay is built from a copy whose kustomization asks kustomize for
//! origin annotations, so a finding names the file the object came from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

use super::kubernetes::{documents, list_overlays, DIR};
use super::output::{command, failure};
use super::{Outcome, Validator};

/// The checker's command on PATH (a wrapper around validate-crds.mjs).
pub const CRD_VALIDATOR: &str = "shipready-crd-validate";
const ORIGIN: &str = "config.kubernetes.io/origin";

pub const CRD_SCHEMAS: Validator = Validator {
    name: "crd-schemas",
    tools: &["kubectl", CRD_VALIDATOR],
    targets: whole_tree,
    run: |root, _| Outcome::of(check_custom_resources(root)),
};

pub const TRIVY: Validator = Validator {
    name: "trivy-kubernetes",
    tools: &["kubectl", "trivy"],
    targets: whole_tree,
    run: |root, _| Outcome::of(trivy(root)),
};

/// `deploy/k8s` once, when it has overlays: one start-up for all of them.
fn whole_tree(paths: &[&str]) -> Vec<String> {
    if super::kubernetes::overlays(paths).is_empty() {
        Vec::new()
    } else {
        vec![DIR.to_string()]
    }
}

/// One object of a build, and the file under `root` it came from.
#[derive(Debug, Clone)]
pub struct Built {
    pub source: String,
    pub object: Value,
}

/// Build `overlay` with each object's source file: from a copy of
/// `deploy/k8s` whose overlay kustomization adds origin annotations (taken
/// off again, so the objects are as `kubectl kustomize` gives them).
pub fn build_with_sources(root: &Path, overlay: &str) -> Result<Vec<Built>, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let copy = tmp.path().join(DIR);
    copy_dir(&root.join(DIR), &copy)?;
    let rel = overlay
        .strip_prefix(&format!("{DIR}/"))
        .ok_or_else(|| format!("{overlay} is not under {DIR}"))?;
    let kustomization = copy.join(rel).join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization)
        .map_err(|e| format!("{}: {e}", kustomization.display()))?;
    if !text.lines().any(|l| l.starts_with("buildMetadata:")) {
        std::fs::write(
            &kustomization,
            format!("{text}\nbuildMetadata: [originAnnotations]\n"),
        )
        .map_err(|e| format!("{}: {e}", kustomization.display()))?;
    }
    let yaml = super::kubernetes::build(tmp.path(), overlay)?;
    let docs = documents(&yaml).map_err(|e| format!("the build of {overlay} is not YAML: {e}"))?;
    let mut out = Vec::new();
    for mut object in docs {
        let origin = take_origin(&mut object);
        let source = origin
            .as_deref()
            .and_then(|o| o.lines().find_map(|l| l.strip_prefix("path: ")))
            .map(|p| normalise(&Path::new(overlay).join(p.trim())))
            .unwrap_or_else(|| format!("{overlay}/kustomization.yaml"));
        out.push(Built { source, object });
    }
    Ok(out)
}

/// Remove the origin annotation (and the annotations map it leaves empty).
fn take_origin(object: &mut Value) -> Option<String> {
    let meta = object.get_mut("metadata")?.as_mapping_mut()?;
    let annotations = meta.get_mut("annotations")?.as_mapping_mut()?;
    let origin = annotations.remove(ORIGIN)?.as_str().map(str::to_string);
    if annotations.is_empty() {
        meta.remove("annotations");
    }
    origin
}

/// `a/b/../c` -> `a/c`, as a `/`-separated relative path.
fn normalise(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A custom resource: an API group with a dot that is not Kubernetes' own.
pub fn is_custom_resource(object: &Value) -> bool {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    match api_version.split_once('/') {
        Some((group, _)) => group.contains('.') && !group.ends_with("k8s.io"),
        None => false,
    }
}

#[derive(Deserialize)]
struct Report {
    checked: BTreeMap<String, usize>,
    problems: Vec<Problem>,
}

#[derive(Deserialize)]
struct Problem {
    source: String,
    kind: String,
    name: String,
    field: String,
    message: String,
}

/// Every custom resource of every overlay against its CRD schema: how many
/// of each kind passed, or each problem as `file: Kind name: field message`.
pub fn check_custom_resources(root: &Path) -> Result<BTreeMap<String, usize>, String> {
    check_against_crds(&custom_resources(root)?)
}

/// The custom resources of every overlay's build, with their source files.
pub fn custom_resources(root: &Path) -> Result<Vec<Built>, String> {
    let mut out = Vec::new();
    for overlay in list_overlays(root)? {
        out.extend(
            build_with_sources(root, &overlay)?
                .into_iter()
                .filter(|b| is_custom_resource(&b.object)),
        );
    }
    if out.is_empty() {
        return Err(format!("no custom resources in the overlays of {DIR}"));
    }
    Ok(out)
}

/// `built` against their CRD schemas, in one run of [`CRD_VALIDATOR`].
pub fn check_against_crds(built: &[Built]) -> Result<BTreeMap<String, usize>, String> {
    let items: Vec<serde_json::Value> = built
        .iter()
        .map(|b| serde_json::json!({"source": b.source, "object": b.object}))
        .collect();
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let input = tmp.path().join("objects.json");
    std::fs::write(&input, serde_json::Value::Array(items).to_string())
        .map_err(|e| format!("{}: {e}", input.display()))?;
    let mut cmd = command(CRD_VALIDATOR);
    let out = succeeded(cmd.arg(&input), CRD_VALIDATOR)?;
    let report: Report = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{CRD_VALIDATOR} printed no report ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    // A base object is in every overlay: one line per distinct problem.
    let problems: BTreeSet<String> = report
        .problems
        .iter()
        .map(|p| {
            format!(
                "{}: {} {}: {} {}",
                p.source, p.kind, p.name, p.field, p.message
            )
        })
        .collect();
    let passed: usize = report.checked.values().sum();
    if problems.is_empty() && passed != built.len() {
        return Err(format!(
            "{CRD_VALIDATOR} passed {passed} of {} custom resources and named no problem",
            built.len()
        ));
    }
    if problems.is_empty() {
        Ok(report.checked)
    } else {
        Err(problems.into_iter().collect::<Vec<_>>().join("\n"))
    }
}

/// trivy's findings that do not apply to these manifests, and why. Matched
/// on the check's ID and the start of the object it names in its message.
pub const TRIVY_NOT_APPLICABLE: &[(&str, &str, &str)] = &[
    (
        "KSV-0013",
        "",
        "the manifests name the image `app` (or `backup`); the deploy pins it \
         to the digest it built with `kustomize edit set image` before applying \
         (checkov's CKV_K8S_14 is skipped for the same reason)",
    ),
    (
        "KSV-01010",
        "ConfigMap 'app-config-",
        "its `*PORT` keys are port numbers, not credentials",
    ),
    (
        "KSV-01010",
        "ConfigMap 'security-headers'",
        "response header names and values, nothing sensitive",
    ),
    (
        "KSV-01010",
        "ConfigMap 'backup-scripts-",
        "the backup scripts pass `--username \"$PGUSER\"`: the name comes from \
         the Secret mounted at run time, the script holds none",
    ),
    (
        "KSV-0109",
        "ConfigMap 'backup-scripts-",
        "the scripts read PGPASSWORD_FILE, a path to the mounted Secret; no \
         password is in the ConfigMap",
    ),
    (
        "KSV-0125",
        "Container postgres-exporter in deployment postgres-exporter",
        "the exporter runs the image its maintainers publish (quay.io), pinned \
         the same as in the compose stack; a team that admits only its own \
         registry mirrors it there (an ECR pull-through cache) and edits the tag",
    ),
    (
        "KSV-0125",
        "Container redis-exporter in deployment redis-exporter",
        "as for postgres-exporter: its maintainer's image (Docker Hub), pinned",
    ),
];

#[derive(Deserialize)]
struct TrivyReport {
    #[serde(rename = "Results", default)]
    results: Vec<TrivyResult>,
}

#[derive(Deserialize)]
struct TrivyResult {
    #[serde(rename = "Target")]
    target: String,
    #[serde(rename = "MisconfSummary")]
    summary: Option<TrivySummary>,
    #[serde(rename = "Misconfigurations", default)]
    misconfigurations: Vec<TrivyFinding>,
}

#[derive(Deserialize)]
struct TrivySummary {
    #[serde(rename = "Successes")]
    successes: usize,
}

#[derive(Deserialize)]
struct TrivyFinding {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "Message")]
    message: String,
}

/// Whether `(id, message)` is one of [`TRIVY_NOT_APPLICABLE`].
pub fn trivy_not_applicable(id: &str, message: &str) -> bool {
    TRIVY_NOT_APPLICABLE
        .iter()
        .any(|(i, object, _)| *i == id && message.contains(object))
}

/// `trivy config` over each overlay's build: the number of checks passed,
/// or every finding not in [`TRIVY_NOT_APPLICABLE`].
pub fn trivy(root: &Path) -> Result<usize, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let files = write_builds(root, tmp.path(), "")?;
    trivy_scan(tmp.path(), files)
}

/// Each overlay's build as `<prefix><env>.yaml` in `dir`; how many.
pub fn write_builds(root: &Path, dir: &Path, prefix: &str) -> Result<usize, String> {
    let overlays = list_overlays(root)?;
    for overlay in &overlays {
        let env = overlay.rsplit('/').next().unwrap_or("overlay");
        let yaml = super::kubernetes::build(root, overlay)?;
        std::fs::write(dir.join(format!("{prefix}{env}.yaml")), yaml)
            .map_err(|e| format!("writing the build of {overlay}: {e}"))?;
    }
    Ok(overlays.len())
}

/// `trivy config` over the `files` builds in `dir`, with the checks built
/// into trivy (no download).
pub fn trivy_scan(dir: &Path, files: usize) -> Result<usize, String> {
    let cache = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut cmd = command("trivy");
    cmd.env("TRIVY_CACHE_DIR", cache.path())
        .args([
            "config",
            "--skip-check-update",
            "--quiet",
            "--format",
            "json",
        ])
        .arg(dir);
    let out = succeeded(&mut cmd, "trivy")?;
    let report: TrivyReport = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("trivy printed no JSON report: {e}"))?;
    let scanned: BTreeSet<&str> = report.results.iter().map(|r| r.target.as_str()).collect();
    if scanned.len() != files {
        return Err(format!("trivy scanned {scanned:?}, not the {files} builds"));
    }
    let mut passed = 0;
    let mut findings = Vec::new();
    for r in &report.results {
        passed += r.summary.as_ref().map_or(0, |s| s.successes);
        for f in &r.misconfigurations {
            if !trivy_not_applicable(&f.id, &f.message) {
                findings.push(format!(
                    "{}: {} ({}): {}",
                    r.target, f.id, f.severity, f.message
                ));
            }
        }
    }
    if passed == 0 {
        return Err("trivy ran no checks over the builds".to_string());
    }
    if findings.is_empty() {
        Ok(passed)
    } else {
        Err(findings.join("\n"))
    }
}

/// `cmd`'s output when it exits 0; otherwise its failure, named `what` when
/// it cannot even start.
fn succeeded(cmd: &mut std::process::Command, what: &str) -> Result<std::process::Output, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("could not run {what}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(failure(
            cmd.get_program(),
            out.status,
            &out.stdout,
            &out.stderr,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_paths_resolve_from_the_overlay() {
        assert_eq!(
            normalise(Path::new(
                "deploy/k8s/overlays/staging/../../base/secret-store.yaml"
            )),
            "deploy/k8s/base/secret-store.yaml"
        );
    }

    #[test]
    fn custom_resources_are_told_from_built_in_kinds() {
        let cr = |v: &str| is_custom_resource(&serde_norway::from_str(v).unwrap());
        assert!(cr("apiVersion: cert-manager.io/v1"));
        assert!(cr("apiVersion: monitoring.coreos.com/v1"));
        assert!(!cr("apiVersion: networking.k8s.io/v1"));
        assert!(!cr("apiVersion: apps/v1"));
        assert!(!cr("apiVersion: v1"));
    }

    #[test]
    fn trivy_exceptions_name_their_object() {
        assert!(trivy_not_applicable(
            "KSV-0109",
            "ConfigMap 'backup-scripts-98k877286g' in 'x' namespace stores secrets"
        ));
        assert!(!trivy_not_applicable(
            "KSV-0109",
            "ConfigMap 'app-config-1' in 'x' namespace stores secrets"
        ));
    }
}
