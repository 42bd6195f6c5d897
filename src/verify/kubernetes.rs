//! Validators for the Kubernetes manifests under `deploy/k8s`: every overlay
//! is built with `kubectl kustomize` (which fails on a broken base, patch or
//! reference), then each object of the build is checked against the
//! Kubernetes API schemas of [`KUBERNETES_VERSION`] with
//! `kubernetes-validate --strict`, and the builds go through checkov.
//!
//! kubernetes-validate ships schemas for built-in kinds only. The custom
//! resources of cert-manager, External Secrets Operator and the Prometheus
//! Operator get a stated structural check instead ([`CRD_SHAPES`]: the
//! fields their CRDs require and the spec keys they accept); they are
//! counted apart, and a kind with neither a schema nor a shape fails. Their
//! CRDs' own schemas are checked too, by `crd_schemas` (its own validator).

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

use super::output::{command, failure};
use super::{run_command, Outcome, Validator};

/// The generated Kubernetes tree.
pub const DIR: &str = "deploy/k8s";
/// The Kubernetes minor version whose schemas every object must meet.
pub const KUBERNETES_VERSION: &str = "1.32";
/// checkov's settings, with the reason for every skipped check.
pub const CHECKOV_CONFIG: &str = "deploy/k8s/.checkov.yaml";

pub const KUSTOMIZE: Validator = Validator {
    name: "kustomize-build",
    tools: &["kubectl"],
    targets: overlays,
    run: |root, target| Outcome::of(build(root, target)),
};

pub const SCHEMAS: Validator = Validator {
    name: "kubernetes-validate",
    tools: &["kubectl", "kubernetes-validate"],
    targets: overlays,
    run: |root, target| Outcome::of(validate_overlay(root, target)),
};

pub const CHECKOV: Validator = Validator {
    name: "checkov-kubernetes",
    tools: &["kubectl", "checkov"],
    targets: |paths| {
        if overlays(paths).is_empty() {
            Vec::new()
        } else {
            vec![DIR.to_string()]
        }
    },
    run: |root, _| checkov(root),
};

/// Targets: every `deploy/k8s/overlays/<env>` with a kustomization.
pub fn overlays(paths: &[&str]) -> Vec<String> {
    let prefix = format!("{DIR}/overlays/");
    paths
        .iter()
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter_map(|rest| rest.strip_suffix("/kustomization.yaml"))
        .filter(|env| !env.contains('/'))
        .map(|env| format!("{prefix}{env}"))
        .collect()
}

/// `kubectl kustomize <overlay>`: the YAML the cluster would receive.
pub fn build(root: &Path, overlay: &str) -> Result<String, String> {
    let mut cmd = command("kubectl");
    cmd.current_dir(root).args(["kustomize", overlay]);
    match cmd.output() {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout)
            .map_err(|e| format!("kubectl kustomize {overlay} printed non-UTF-8: {e}")),
        Ok(out) => Err(failure(
            cmd.get_program(),
            out.status,
            &out.stdout,
            &out.stderr,
        )),
        Err(e) => Err(format!("could not run kubectl: {e}")),
    }
}

/// Every document of a multi-document YAML stream (empty ones dropped).
pub fn documents(yaml: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(yaml) {
        let v = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// A custom resource's required fields and accepted spec keys, from its
/// CRD's OpenAPI schema. `[]` in a path means "every item of this list".
pub struct CrdShape {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub required: &'static [&'static str],
    pub spec_keys: &'static [&'static str],
}

#[rustfmt::skip]
pub const CRD_SHAPES: &[CrdShape] = &[
    CrdShape {
        api_version: "cert-manager.io/v1", kind: "Issuer",
        required: &["spec.acme.server", "spec.acme.privateKeySecretRef.name", "spec.acme.solvers[].http01.ingress.ingressClassName"],
        spec_keys: &["acme", "ca", "selfSigned", "vault", "venafi"],
    },
    CrdShape {
        api_version: "cert-manager.io/v1", kind: "Certificate",
        required: &["spec.secretName", "spec.issuerRef.name", "spec.issuerRef.kind", "spec.dnsNames[]"],
        spec_keys: &["additionalOutputFormats", "commonName", "dnsNames", "duration", "emailAddresses", "encodeUsagesInRequest", "ipAddresses", "isCA", "issuerRef", "keystores", "literalSubject", "nameConstraints", "otherNames", "privateKey", "renewBefore", "renewBeforePercentage", "revisionHistoryLimit", "secretName", "secretTemplate", "subject", "uris", "usages"],
    },
    CrdShape {
        api_version: "external-secrets.io/v1", kind: "SecretStore",
        required: &["spec.provider"],
        spec_keys: &["conditions", "controller", "provider", "refreshInterval", "retrySettings"],
    },
    CrdShape {
        api_version: "external-secrets.io/v1", kind: "ExternalSecret",
        required: &["spec.secretStoreRef.name", "spec.target.name"],
        spec_keys: &["data", "dataFrom", "refreshInterval", "refreshPolicy", "secretStoreRef", "target"],
    },
    CrdShape {
        api_version: "monitoring.coreos.com/v1", kind: "PrometheusRule",
        required: &["spec.groups[].name", "spec.groups[].rules"],
        spec_keys: &["groups"],
    },
    CrdShape {
        api_version: "monitoring.coreos.com/v1", kind: "ServiceMonitor",
        required: &["spec.selector", "spec.endpoints[].port"],
        spec_keys: &["attachMetadata", "bodySizeLimit", "endpoints", "fallbackScrapeProtocol", "jobLabel", "keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit", "namespaceSelector", "podTargetLabels", "sampleLimit", "scrapeClass", "scrapeProtocols", "selector", "selectorMechanism", "targetLabels", "targetLimit"],
    },
    CrdShape {
        api_version: "monitoring.coreos.com/v1", kind: "PodMonitor",
        required: &["spec.selector", "spec.podMetricsEndpoints[].port"],
        spec_keys: &["attachMetadata", "bodySizeLimit", "fallbackScrapeProtocol", "jobLabel", "keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit", "namespaceSelector", "podMetricsEndpoints", "podTargetLabels", "sampleLimit", "scrapeClass", "scrapeProtocols", "selector", "selectorMechanism", "targetLimit"],
    },
];

/// The values at a dotted path (`[]` fans out over a list); empty when the
/// path is missing anywhere.
fn values_at<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![v];
    for part in path.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for c in current {
            let Some(child) = c.get(key) else { continue };
            if each {
                if let Some(items) = child.as_sequence() {
                    next.extend(items.iter());
                }
            } else {
                next.push(child);
            }
        }
        current = next;
    }
    current
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        _ => true,
    }
}

/// Check one custom resource against its shape; `Err` lists what is wrong.
pub fn check_shape(shape: &CrdShape, obj: &Value) -> Result<(), String> {
    let mut problems = Vec::new();
    if !obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .is_some_and(is_present)
    {
        problems.push("metadata.name is missing".to_string());
    }
    for path in shape.required {
        // A `[]` path needs at least one item, and the field in every item.
        let (list, _) = path.split_once("[]").unwrap_or((path, ""));
        let lists = values_at(obj, &format!("{list}[]"));
        let found = values_at(obj, path);
        let complete = if path.contains("[]") {
            !lists.is_empty() && found.len() >= lists.len() && found.iter().all(|v| is_present(v))
        } else {
            found.iter().any(|v| is_present(v))
        };
        if !complete {
            problems.push(format!("{path} is missing or empty"));
        }
    }
    match obj.get("spec").and_then(Value::as_mapping) {
        Some(spec) => {
            for key in spec.keys() {
                let key = key.as_str().unwrap_or("");
                if !shape.spec_keys.contains(&key) {
                    problems.push(format!("spec.{key} is not a field of {}", shape.kind));
                }
            }
        }
        None => problems.push("spec is missing".to_string()),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// How the objects of one overlay were checked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Objects that passed kubernetes-validate against the API schema.
    pub by_schema: usize,
    /// Custom resources that passed their [`CrdShape`], by kind.
    pub by_shape: BTreeMap<String, usize>,
}

fn kind_of(obj: &Value) -> (String, String) {
    let s = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("apiVersion"), s("kind"))
}

/// Build `overlay` and check every object: built-in kinds with
/// `kubernetes-validate --strict` (each must be reported as passed), custom
/// resources by shape. Anything unchecked is an error.
pub fn validate_overlay(root: &Path, overlay: &str) -> Result<Checked, String> {
    let yaml = build(root, overlay)?;
    let docs = documents(&yaml).map_err(|e| format!("the build of {overlay} is not YAML: {e}"))?;
    if docs.is_empty() {
        return Err(format!("kubectl kustomize {overlay} produced no objects"));
    }
    let mut checked = Checked::default();
    let mut builtin = Vec::new();
    let mut problems = Vec::new();
    for obj in &docs {
        let (api_version, kind) = kind_of(obj);
        match CRD_SHAPES
            .iter()
            .find(|s| s.api_version == api_version && s.kind == kind)
        {
            Some(shape) => match check_shape(shape, obj) {
                Ok(()) => *checked.by_shape.entry(kind).or_default() += 1,
                Err(e) => problems.push(format!("{kind} {}: {e}", name_of(obj))),
            },
            None => builtin.push(obj),
        }
    }
    if !builtin.is_empty() {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let file = dir.path().join("objects.yaml");
        // As JSON documents: YAML that no YAML 1.1 reader can take `off`
        // or `no` in as a boolean, as it could a re-serialised plain scalar.
        let text = builtin
            .iter()
            .map(|o| serde_json::to_string(o).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?
            .join("\n---\n");
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut cmd = command("kubernetes-validate");
        cmd.args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
            .arg(&file);
        let out = cmd
            .output()
            .map_err(|e| format!("could not run kubernetes-validate: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(failure(
                cmd.get_program(),
                out.status,
                &out.stdout,
                &out.stderr,
            ));
        }
        // A kind without a schema is only a warning to kubernetes-validate.
        let unchecked: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("Couldn't find schema"))
            .collect();
        if !unchecked.is_empty() {
            problems.push(format!(
                "no schema and no structural check for:\n{}",
                unchecked.join("\n")
            ));
        }
        checked.by_schema = text.lines().filter(|l| l.contains(" passed for ")).count();
        if checked.by_schema != builtin.len() {
            problems.push(format!(
                "kubernetes-validate passed {} of {} objects:\n{text}",
                checked.by_schema,
                builtin.len()
            ));
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems.join("\n"))
    }
}

fn name_of(obj: &Value) -> &str {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
}

/// checkov over the builds of every overlay at once (one start-up), with
/// the generated config's skips; a parse error fails.
fn checkov(root: &Path) -> Outcome {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Outcome::Fail(format!("temp dir: {e}")),
    };
    let targets = match list_overlays(root) {
        Ok(t) if !t.is_empty() => t,
        Ok(_) => return Outcome::Fail(format!("no overlays under {DIR}/overlays")),
        Err(e) => return Outcome::Fail(e),
    };
    for overlay in &targets {
        let env = overlay.rsplit('/').next().unwrap_or("overlay");
        let yaml = match build(root, overlay) {
            Ok(y) => y,
            Err(e) => return Outcome::Fail(e),
        };
        if let Err(e) = std::fs::write(dir.path().join(format!("{env}.yaml")), yaml) {
            return Outcome::Fail(format!("writing the build of {overlay}: {e}"));
        }
    }
    run_command(
        command("checkov")
            .current_dir(dir.path())
            .env("BC_SKIP_MAPPING", "TRUE")
            .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
            .env("CKV_PARSE_ERROR_FAIL", "true")
            .arg("--config-file")
            .arg(root.join(CHECKOV_CONFIG))
            .args([
                "-d",
                ".",
                "--framework",
                "kubernetes",
                "--skip-download",
                "--quiet",
                "--compact",
            ]),
    )
}

/// The overlays on disk (`deploy/k8s/overlays/<env>/kustomization.yaml`).
pub fn list_overlays(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join(DIR).join("overlays");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        if e.path().join("kustomization.yaml").is_file() {
            out.push(format!(
                "{DIR}/overlays/{}",
                e.file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn overlays_are_found_by_their_kustomization() {
        let paths = [
            "deploy/k8s/base/kustomization.yaml",
            "deploy/k8s/overlays/staging/kustomization.yaml",
            "deploy/k8s/overlays/staging/ingress.yaml",
            "deploy/k8s/overlays/production/kustomization.yaml",
        ];
        assert_eq!(
            overlays(&paths),
            [
                "deploy/k8s/overlays/staging",
                "deploy/k8s/overlays/production"
            ]
        );
        assert!(overlays(&["compose.yaml"]).is_empty());
    }

    #[test]
    fn a_shape_catches_missing_fields_and_unknown_keys() {
        let shape = CRD_SHAPES.iter().find(|s| s.kind == "Certificate").unwrap();
        let good = yaml(
            "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: x}\nspec:\n  secretName: t\n  dnsNames: [a.example.com]\n  issuerRef: {kind: Issuer, name: le}\n",
        );
        assert_eq!(check_shape(shape, &good), Ok(()));
        let bad = yaml(
            "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: x}\nspec:\n  secretname: t\n  dnsNames: []\n  issuerRef: {kind: Issuer}\n",
        );
        let err = check_shape(shape, &bad).unwrap_err();
        for want in [
            "spec.secretName",
            "spec.issuerRef.name",
            "spec.dnsNames[]",
            "spec.secretname is not a field",
        ] {
            assert!(err.contains(want), "{want} not in {err}");
        }
    }

    #[test]
    fn list_paths_need_every_item() {
        let shape = CRD_SHAPES
            .iter()
            .find(|s| s.kind == "PrometheusRule")
            .unwrap();
        let one_bad = yaml(
            "metadata: {name: r}\nspec:\n  groups:\n    - {name: a, rules: [{alert: X, expr: up}]}\n    - {rules: [{alert: Y, expr: up}]}\n",
        );
        assert!(check_shape(shape, &one_bad)
            .unwrap_err()
            .contains("spec.groups[].name"));
    }
}
