//! The Kubernetes target: for every preset with `deploy.target=kubernetes`,
//! each overlay builds with kustomize, every object meets the Kubernetes
//! 1.32 API schema (custom resources their stated shape), checkov finds
//! nothing, and the built objects say what matters: pods never root and
//! read-only, probes on the profile's paths, no secret value in a manifest,
//! metrics never reachable from the Ingress, the nginx edge's headers.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::kubernetes::{kind, meta, name, named, of_kind, pod_spec, route, s, seq, str_at};
use common::{init_preset_with, require_tool, Run};
use serde_norway::Value;
use shipready::core::lock::Lock;
use shipready::core::render::render;
use shipready::core::templates::Templates;
use shipready::preset::Preset;
use shipready::profile::{Layer, Profile};
use shipready::verify::crd_schemas::{
    check_against_crds, check_custom_resources, custom_resources, trivy, trivy_scan, write_builds,
    Built, CRD_VALIDATOR,
};
use shipready::verify::kubernetes::{build, documents, validate_overlay};
use shipready::verify::{check_only, Outcome};

const TOOLS: &[&str] = &["kubectl", "kubernetes-validate", "checkov"];

fn profile(preset: &str, target: &str) -> Profile {
    let preset = Preset::all()
        .into_iter()
        .find(|p| p.name == preset)
        .unwrap();
    let answers = Layer::from_assignments(&[
        format!("edge.domain={}", common::DOMAIN),
        format!("deploy.target={target}"),
    ])
    .unwrap();
    Profile::from_layers(&[preset.layer(), answers]).unwrap()
}

fn init_kubernetes(preset: &str) -> Run {
    init_preset_with(preset, &["deploy.target=kubernetes"])
}

fn lock_paths(root: &Path) -> Vec<String> {
    Lock::read(root)
        .unwrap()
        .expect("a lock file")
        .files
        .keys()
        .cloned()
        .collect()
}

/// The `drain_seconds` the ECS target renders for the same profile.
fn ecs_drain_seconds(preset: &str) -> u64 {
    let tree = render(&profile(preset, "ecs"), &Templates::embedded()).unwrap();
    let ecs = &tree.get("infra/terraform/ecs.tf").unwrap().contents;
    ecs.lines()
        .find_map(|l| l.trim().strip_prefix("drain_seconds = "))
        .expect("ecs.tf sets drain_seconds")
        .trim()
        .parse()
        .unwrap()
}

/// `add_header NAME VALUE always;` lines of the nginx edge's snippet.
fn nginx_headers(snippet: &str) -> BTreeMap<String, String> {
    snippet
        .lines()
        .filter_map(|l| l.trim().strip_prefix("add_header "))
        .map(|rest| {
            let rest = rest.trim_end_matches(';').trim_end_matches(" always");
            let (name, value) = rest.split_once(' ').unwrap();
            (name.to_string(), value.trim_matches('"').to_string())
        })
        .collect()
}

// --- the checks ---------------------------------------------------------------

/// What one overlay's build must say, beyond the validators.
/// The namespace a NetworkPolicy peer selects by name.
fn peer_namespace(peer: &Value) -> &str {
    s(peer, "namespaceSelector.matchLabels")
        .and_then(|m| m.get("kubernetes.io/metadata.name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn check_semantics(preset: &str, env: &str, p: &Profile, root: &Path, docs: &[Value]) {
    let at = |what: &str| format!("{preset}/{env}: {what}");
    let ns = p.service.name.as_str();

    // No secret value anywhere: Secrets come only from ExternalSecrets.
    assert!(
        of_kind(docs, "Secret").is_empty(),
        "{}",
        at("a Secret object")
    );
    for d in docs {
        assert_eq!(
            d.get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or(ns),
            ns,
            "{}",
            at(&format!("{} {} outside the namespace", kind(d), name(d)))
        );
        if !matches!(kind(d), "Namespace") {
            assert!(
                s(d, "metadata.namespace").is_some(),
                "{}",
                at(&format!("{} {} has no namespace", kind(d), name(d)))
            );
        }
    }

    // Every pod: never root, read-only, no capabilities, no API token, sized.
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| matches!(kind(d), "Deployment" | "Job" | "CronJob"))
        .collect();
    assert!(!workloads.is_empty());
    // Secret name => the keys pods mount from it.
    let mut secret_keys_used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for w in &workloads {
        let pod = pod_spec(w);
        let who = at(&format!("{} {}", kind(w), name(w)));
        assert_eq!(
            s(pod, "securityContext.runAsNonRoot"),
            Some(&Value::Bool(true)),
            "{who}"
        );
        let uid = s(pod, "securityContext.runAsUser")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        assert!(uid > 0, "{who}: runAsUser {uid}");
        assert_eq!(
            str_at(pod, "securityContext.seccompProfile.type"),
            "RuntimeDefault",
            "{who}"
        );
        assert_eq!(
            s(pod, "automountServiceAccountToken"),
            Some(&Value::Bool(false)),
            "{who}"
        );
        for c in seq(pod, "containers") {
            let sc = |k: &str| s(c, &format!("securityContext.{k}")).cloned();
            assert_eq!(
                sc("readOnlyRootFilesystem"),
                Some(Value::Bool(true)),
                "{who}"
            );
            assert_eq!(
                sc("allowPrivilegeEscalation"),
                Some(Value::Bool(false)),
                "{who}"
            );
            let drop: Vec<&str> = seq(c, "securityContext.capabilities.drop")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert_eq!(drop, ["ALL"], "{who}");
            for k in [
                "requests.cpu",
                "requests.memory",
                "limits.cpu",
                "limits.memory",
            ] {
                assert!(s(c, &format!("resources.{k}")).is_some(), "{who}: no {k}");
            }
        }
        for v in seq(pod, "volumes") {
            for item in seq(v, "secret.items") {
                secret_keys_used
                    .entry(str_at(v, "secret.secretName").to_string())
                    .or_default()
                    .insert(str_at(item, "key").to_string());
            }
            // Only emptyDir, secrets and configuration: nothing from the host.
            assert!(
                v.get("emptyDir").is_some()
                    || v.get("secret").is_some()
                    || v.get("configMap").is_some(),
                "{who}: volume {v:?}"
            );
        }
    }

    // The app: probes on the profile's paths, writable dirs only as emptyDir,
    // and the drain time of the ECS target.
    let app = named(docs, "Deployment", "app");
    for (k, v) in [
        ("app.kubernetes.io/name", ns),
        ("app.kubernetes.io/component", "app"),
        ("app.kubernetes.io/part-of", ns),
    ] {
        assert_eq!(meta(app, "labels", k), v, "{}", at(k));
    }
    let pod = pod_spec(app);
    let c = seq(pod, "containers")[0];
    assert_eq!(str_at(c, "image"), "app", "{}", at("base image name"));
    assert_eq!(
        str_at(c, "livenessProbe.httpGet.path"),
        p.service.health_path,
        "{}",
        at("liveness")
    );
    assert_eq!(
        str_at(c, "startupProbe.httpGet.path"),
        p.service.health_path,
        "{}",
        at("startup")
    );
    assert_eq!(
        str_at(c, "readinessProbe.httpGet.path"),
        p.service.ready_path,
        "{}",
        at("readiness")
    );
    let mounts: BTreeSet<&str> = seq(c, "volumeMounts")
        .iter()
        .map(|m| str_at(m, "mountPath"))
        .collect();
    let mut want: BTreeSet<String> = p
        .service
        .writable_dirs
        .iter()
        .map(|d| format!("/app/{d}"))
        .collect();
    want.insert("/tmp".into());
    want.insert("/run/secrets".into());
    assert_eq!(
        mounts,
        want.iter().map(String::as_str).collect(),
        "{}",
        at("mounts")
    );
    let drain = ecs_drain_seconds(preset);
    assert_eq!(
        s(c, "lifecycle.preStop.sleep.seconds").and_then(Value::as_u64),
        Some(drain),
        "{}",
        at("preStop")
    );
    assert_eq!(
        s(pod, "terminationGracePeriodSeconds").and_then(Value::as_u64),
        Some(drain + 30),
        "{}",
        at("grace")
    );
    let zones = seq(pod, "topologySpreadConstraints");
    assert!(
        zones
            .iter()
            .any(|t| str_at(t, "topologyKey") == "topology.kubernetes.io/zone"),
        "{}",
        at("zone spread")
    );
    assert_eq!(
        of_kind(docs, "Deployment")
            .iter()
            .any(|d| name(d) == "worker"),
        p.worker.enabled,
        "{}",
        at("worker")
    );
    assert_eq!(
        of_kind(docs, "Job").iter().any(|d| name(d) == "migrate"),
        p.postgres.enabled && !p.postgres.migrate_command.is_empty(),
        "{}",
        at("migrate Job")
    );

    // Sizes of this environment.
    let production = env == p.aws.environments.last().unwrap();
    let sizes = if production {
        &p.aws.production
    } else {
        &p.aws.staging
    };
    let hpa = named(docs, "HorizontalPodAutoscaler", "app");
    assert_eq!(
        s(hpa, "spec.minReplicas").and_then(Value::as_u64),
        Some(sizes.app_min_tasks as u64),
        "{}",
        at("min")
    );
    assert_eq!(
        s(hpa, "spec.maxReplicas").and_then(Value::as_u64),
        Some(sizes.app_max_tasks as u64),
        "{}",
        at("max")
    );
    assert_eq!(
        str_at(c, "resources.limits.memory"),
        format!("{}Mi", sizes.app_memory_mb),
        "{}",
        at("memory")
    );
    assert_eq!(
        str_at(c, "resources.limits.cpu"),
        format!("{}m", sizes.app_cpu * 1000 / 1024),
        "{}",
        at("cpu")
    );

    // Sidecars: their own Deployment and Service, never behind an Ingress.
    let ingresses = of_kind(docs, "Ingress");
    let backends: BTreeSet<&str> = ingresses
        .iter()
        .flat_map(|i| seq(i, "spec.rules"))
        .flat_map(|r| seq(r, "http.paths"))
        .map(|p| str_at(p, "backend.service.name"))
        .collect();
    // A built front end is served by its own Deployment (web), as the
    // compose edge serves it; every other path reaches the app.
    let front_end = !p.service.static_dir.is_empty();
    let fallback = if front_end { "web" } else { "app" };
    let mut expected_backends = BTreeSet::from(["app", "not-public"]);
    if front_end {
        expected_backends.insert("web");
        let web = named(docs, "Deployment", "web");
        assert_eq!(str_at(pod_spec(web), "serviceAccountName"), "internal");
        named(docs, "Service", "web");
        let policy = named(docs, "NetworkPolicy", "web-ingress");
        let sources: Vec<&str> = seq(policy, "spec.ingress")
            .iter()
            .flat_map(|r| seq(r, "from"))
            .map(peer_namespace)
            .collect();
        assert_eq!(sources, ["ingress-nginx"], "{}", at("web's sources"));
    }
    assert_eq!(backends, expected_backends, "{}", at("Ingress backends"));
    for sc in &p.sidecars {
        named(docs, "Deployment", &sc.name);
        named(docs, "Service", &sc.name);
    }

    // Secrets: one ExternalSecret from the shared store, holding every key
    // a pod mounts.
    named(docs, "ExternalSecret", "app-secrets");
    named(docs, "SecretStore", "aws-secrets-manager");
    for (secret, used) in &secret_keys_used {
        let es = named(docs, "ExternalSecret", secret);
        assert_eq!(
            str_at(es, "spec.secretStoreRef.name"),
            "aws-secrets-manager"
        );
        let provided: BTreeSet<String> = seq(es, "spec.data")
            .iter()
            .map(|d| str_at(d, "secretKey").to_string())
            .collect();
        assert!(
            used.is_subset(&provided),
            "{}",
            at(&format!(
                "{secret}: mounted {used:?}, provided {provided:?}"
            ))
        );
    }

    // Metrics: in any spelling, the longest-first regex match is the
    // Service with no endpoints; the app's public paths still reach the app.
    let routes: Vec<(String, String)> = ingresses
        .iter()
        .flat_map(|i| seq(i, "spec.rules"))
        .flat_map(|r| seq(r, "http.paths"))
        .map(|p| {
            (
                str_at(p, "path").to_string(),
                str_at(p, "backend.service.name").to_string(),
            )
        })
        .collect();
    let m = p.service.metrics_path.trim_end_matches('/');
    for spelling in [
        m.to_string(),
        format!("{m}/"),
        m.to_uppercase(),
        format!("{m}/x"),
        format!("{}{}", &m[..2].to_uppercase(), &m[2..]),
    ] {
        assert_eq!(
            route(&routes, &spelling),
            Some("not-public"),
            "{}",
            at(&format!("{spelling} is routed elsewhere"))
        );
    }
    assert_eq!(
        route(&routes, "/calls/42"),
        Some(fallback),
        "{}",
        at("an unclaimed path")
    );
    for public in [
        p.service.health_path.as_str(),
        &format!("{}/x", p.service.auth_path),
        &format!("{}/metricsx", p.service.api_prefix),
    ] {
        assert_eq!(
            route(&routes, public),
            Some("app"),
            "{}",
            at(&format!("{public} does not reach the app"))
        );
    }
    let not_public = named(docs, "Service", "not-public");
    assert!(
        s(not_public, "spec.selector").is_none(),
        "{}",
        at("not-public has a selector")
    );
    if p.voice.provider != shipready::profile::VoiceProvider::None {
        let hooks = named(docs, "Ingress", "webhooks");
        let ann = |k: &str| {
            meta(
                hooks,
                "annotations",
                &format!("nginx.ingress.kubernetes.io/{k}"),
            )
            .to_string()
        };
        assert!(
            ann("rewrite-target").is_empty(),
            "{}",
            at("webhooks rewritten")
        );
        assert_eq!(ann("limit-rps"), p.edge.webhook_rate_per_second.to_string());
    }

    // Headers: the nginx edge's, to the value (CSP: the profile's, which the
    // nginx edge sends unless the app set its own).
    let nginx = nginx_headers(
        &std::fs::read_to_string(root.join("deploy/nginx/snippets/security-headers.conf")).unwrap(),
    );
    let cm = named(docs, "ConfigMap", "security-headers");
    let k8s: BTreeMap<String, String> = s(cm, "data")
        .and_then(Value::as_mapping)
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    // A Next.js app sends its own nonce CSP on every response, which the
    // Ingress must not overwrite; nginx keeps it through $edge_csp.
    let nextjs = p.service.runtime == shipready::profile::Runtime::Node
        && p.service
            .writable_dirs
            .iter()
            .any(|d| d.starts_with(".next/"));
    let mut expected = nginx.clone();
    let nginx_csp = if nextjs {
        expected.remove("Content-Security-Policy")
    } else {
        expected.insert(
            "Content-Security-Policy".into(),
            p.edge.content_security_policy.clone(),
        )
    };
    assert_eq!(nginx_csp.as_deref(), Some("$edge_csp"));
    assert_eq!(k8s, expected, "{}", at("security headers"));
    for i in &ingresses {
        assert_eq!(
            meta(
                i,
                "annotations",
                "nginx.ingress.kubernetes.io/custom-headers"
            ),
            format!("{ns}/security-headers"),
            "{}",
            at(&format!("Ingress {} without the headers", name(i)))
        );
    }
}

#[test]
fn every_preset_builds_validates_and_says_what_matters() {
    for tool in TOOLS {
        require_tool(tool);
    }
    let presets = common::presets();
    let results: Vec<(String, usize, BTreeMap<String, usize>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = presets
            .iter()
            .map(|preset| {
                scope.spawn(move || {
                    let run = init_kubernetes(preset);
                    let root = run.path();
                    let paths = lock_paths(root);
                    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
                    let p = profile(preset, "kubernetes");
                    // kustomize and checkov through verify's own table.
                    let findings =
                        check_only(root, &paths, &["kustomize-build", "checkov-kubernetes"]);
                    assert_eq!(
                        findings.len(),
                        p.aws.environments.len() + 1,
                        "{preset}: {findings:?}"
                    );
                    for f in &findings {
                        assert_eq!(
                            f.result,
                            Ok(Outcome::Pass),
                            "{preset}: {} {}",
                            f.validator,
                            f.target
                        );
                    }
                    let mut by_schema = 0;
                    let mut by_shape = BTreeMap::new();
                    for env in &p.aws.environments {
                        let overlay = format!("deploy/k8s/overlays/{env}");
                        let checked = validate_overlay(root, &overlay)
                            .unwrap_or_else(|e| panic!("{preset}/{env}: {e}"));
                        by_schema += checked.by_schema;
                        for (k, n) in checked.by_shape {
                            *by_shape.entry(k).or_insert(0) += n;
                        }
                        let docs = documents(&build(root, &overlay).unwrap()).unwrap();
                        check_semantics(preset, env, &p, root, &docs);
                    }
                    (preset.clone(), by_schema, by_shape)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (preset, by_schema, by_shape) in &results {
        eprintln!("{preset}: {by_schema} objects checked against the Kubernetes 1.32 schema; by structural check: {by_shape:?}");
        assert!(*by_schema > 20, "{preset}");
        for k in ["SecretStore", "ExternalSecret", "Certificate", "Issuer"] {
            assert!(by_shape.contains_key(k), "{preset}: no {k} checked");
        }
    }
    assert_eq!(results.len(), presets.len());
}

#[test]
fn update_switches_an_ecs_service_to_kubernetes() {
    require_tool("kubectl");
    let run = common::init_preset("twilio-voice");
    assert!(!run.files().iter().any(|f| f.starts_with("deploy/k8s/")));
    let run = Run::in_dir(run.dir).args(["update", "--set", "deploy.target=kubernetes"]);
    let out = run.run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let files = run.files();
    for f in [
        "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/overlays/production/kustomization.yaml",
        "deploy/k8s/README.md",
    ] {
        assert!(
            files.iter().any(|x| x == f),
            "update did not write {f}: {files:?}"
        );
    }
    build(run.path(), "deploy/k8s/overlays/staging").unwrap();
}

#[test]
fn the_validators_fail_on_broken_manifests() {
    for tool in TOOLS {
        require_tool(tool);
    }
    let run = init_kubernetes("ringcentral-hold-hunter");
    let root = run.path();
    let overlay = "deploy/k8s/overlays/staging";
    let app = root.join("deploy/k8s/base/app.yaml");
    let good = std::fs::read_to_string(&app).unwrap();

    // A misspelt field: only a strict schema check sees it.
    std::fs::write(
        &app,
        good.replace(
            "imagePullPolicy: Always",
            "imagePullPolicy: Always\n          imagePulPolicy: Always",
        ),
    )
    .unwrap();
    build(root, overlay).expect("kustomize itself accepts the typo");
    let err = validate_overlay(root, overlay).unwrap_err();
    assert!(err.contains("imagePulPolicy"), "{err}");

    // A privileged container: checkov fails it.
    std::fs::write(&app, good.replace("privileged: false", "privileged: true")).unwrap();
    let paths = lock_paths(root);
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let findings = check_only(root, &paths, &["checkov-kubernetes"]);
    assert!(
        matches!(&findings[0].result, Ok(Outcome::Fail(out)) if out.contains("CKV_K8S_16")),
        "{findings:?}"
    );
    std::fs::write(&app, &good).unwrap();

    // A custom resource missing what its CRD requires.
    let store = root.join("deploy/k8s/base/secret-store.yaml");
    let text = std::fs::read_to_string(&store).unwrap();
    std::fs::write(&store, text.replace("  provider:", "  providr:")).unwrap();
    let err = validate_overlay(root, overlay).unwrap_err();
    assert!(
        err.contains("spec.provider is missing") && err.contains("spec.providr is not a field"),
        "{err}"
    );
    std::fs::write(&store, text).unwrap();

    // A kind with neither schema nor shape is never passed over.
    let extra = root.join("deploy/k8s/base/extra.yaml");
    std::fs::write(
        &extra,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n",
    )
    .unwrap();
    let kust = root.join("deploy/k8s/base/kustomization.yaml");
    let k = std::fs::read_to_string(&kust).unwrap();
    std::fs::write(
        &kust,
        k.replace("resources:\n", "resources:\n  - extra.yaml\n"),
    )
    .unwrap();
    let err = validate_overlay(root, overlay).unwrap_err();
    assert!(
        err.contains("no schema and no structural check") && err.contains("Widget"),
        "{err}"
    );
}

// --- custom resources against their CRD schemas, and trivy ------------------

const SCAN_TOOLS: &[&str] = &["kubectl", CRD_VALIDATOR, "trivy"];

/// One run of each checker over every preset at once: each starts slowly
/// (the schema check compiles its types, trivy loads its checks).
#[test]
fn every_preset_meets_its_crd_schemas_and_trivy() {
    for tool in SCAN_TOOLS {
        require_tool(tool);
    }
    let presets = common::presets();
    let builds = tempfile::tempdir().unwrap();
    let mut resources = Vec::new();
    let mut files = 0;
    for pair in presets.chunks(2) {
        let built: Vec<(Vec<Built>, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|preset| {
                    let builds = builds.path();
                    scope.spawn(move || {
                        let run = init_kubernetes(preset);
                        let mut crs = custom_resources(run.path()).unwrap();
                        for cr in &mut crs {
                            cr.source = format!("{preset}: {}", cr.source);
                        }
                        let kinds: BTreeSet<&str> = crs.iter().map(|b| kind(&b.object)).collect();
                        for k in [
                            "Certificate",
                            "Issuer",
                            "SecretStore",
                            "ExternalSecret",
                            "PrometheusRule",
                            "ServiceMonitor",
                        ] {
                            assert!(kinds.contains(k), "{preset}: no {k} in {kinds:?}");
                        }
                        let n = write_builds(run.path(), builds, &format!("{preset}-")).unwrap();
                        let envs = profile(preset, "kubernetes").aws.environments.len();
                        assert_eq!(n, envs, "{preset}: one build per environment");
                        (crs, n)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (crs, n) in built {
            resources.extend(crs);
            files += n;
        }
    }
    let by_kind = check_against_crds(&resources).unwrap_or_else(|e| panic!("crd-schemas:\n{e}"));
    assert_eq!(by_kind.values().sum::<usize>(), resources.len());
    let trivy_passed = trivy_scan(builds.path(), files).unwrap_or_else(|e| panic!("trivy:\n{e}"));
    eprintln!(
        "{} presets: {} custom resources met their CRD schema ({by_kind:?}); trivy: {trivy_passed} checks passed over {files} builds",
        presets.len(),
        resources.len()
    );
    assert!(trivy_passed > 50 * files, "{trivy_passed}");
}

#[test]
fn crd_schemas_name_the_file_the_object_and_the_field() {
    for tool in SCAN_TOOLS {
        require_tool(tool);
    }
    let run = init_kubernetes("ringcentral-hold-hunter");
    let root = run.path();
    let edit = |file: &str, from: &str, to: &str| {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    let store_ref = "deploy/k8s/overlays/staging/external-secrets.yaml";
    edit(
        store_ref,
        "    kind: SecretStore\n",
        "    kindd: SecretStore\n",
    );
    let rules = "deploy/k8s/base/monitoring/prometheusrule-app.yaml";
    edit(rules, "for: 2m", "for: banana");
    let certificate = "deploy/k8s/overlays/staging/ingress.yaml";
    edit(
        certificate,
        "  issuerRef:\n    kind: Issuer\n    name: letsencrypt\n",
        "",
    );
    let store = "deploy/k8s/base/secret-store.yaml";
    edit(store, "service: SecretsManager", "service: SecretsManagr");
    let issuer = "deploy/k8s/base/issuer.yaml";
    edit(issuer, "    server: ", "    serverr: ");
    let monitor = "deploy/k8s/base/monitoring/servicemonitor.yaml";
    edit(monitor, "interval: 30s", "interval: often");

    let err = check_custom_resources(root).unwrap_err();
    for (file, object, field) in [
        (
            store_ref,
            "ExternalSecret ",
            "spec.secretStoreRef.kindd is not a field of the CRD",
        ),
        (
            rules,
            "PrometheusRule hold-hunter-app",
            r#".for must match ^(0|(([0-9]+)y)?"#,
        ),
        (
            certificate,
            "Certificate hold-hunter",
            "spec.issuerRef is required by the CRD",
        ),
        (
            store,
            "SecretStore aws-secrets-manager",
            r#"spec.provider.aws.service must be one of SecretsManager, ParameterStore (got "SecretsManagr")"#,
        ),
        (issuer, "Issuer letsencrypt", "spec.acme.server is required"),
        (
            issuer,
            "Issuer letsencrypt",
            "spec.acme.serverr is not a field of the CRD",
        ),
        (
            monitor,
            "ServiceMonitor hold-hunter-app",
            "spec.endpoints[0].interval must match",
        ),
    ] {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("{file}: {object}")) && l.contains(field));
        assert!(line.is_some(), "no `{file}: {object}...{field}` in:\n{err}");
    }
    assert!(err.contains(r#"(got "banana")"#), "{err}");

    // Through verify's table too: the finding is a failure, not a skip.
    let paths = lock_paths(root);
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let findings = check_only(root, &paths, &["crd-schemas"]);
    assert!(
        matches!(&findings[..], [f] if matches!(&f.result, Ok(Outcome::Fail(out)) if out.contains("kindd"))),
        "{findings:?}"
    );
}

#[test]
fn trivy_fails_a_privileged_container() {
    for tool in SCAN_TOOLS {
        require_tool(tool);
    }
    let run = init_kubernetes("ringcentral-hold-hunter");
    let app = run.path().join("deploy/k8s/base/app.yaml");
    let good = std::fs::read_to_string(&app).unwrap();
    assert!(good.contains("privileged: false"));
    std::fs::write(&app, good.replace("privileged: false", "privileged: true")).unwrap();
    let err = trivy(run.path()).unwrap_err();
    assert!(
        err.contains("staging.yaml: KSV-0017") && err.contains("production.yaml: KSV-0017"),
        "{err}"
    );
}
