//! The Kubernetes alert rules: promtool on the rules inside the
//! PrometheusRule objects of deploy/k8s/base/monitoring. promtool reads
//! plain rule files, so each object's `spec` is written to
//! `rules/<name>.yml` in a scratch directory, next to a copy of the folder's
//! `tests/`, whose files name their rules as `../rules/<name>.yml`.

use std::path::Path;

use super::output::command;
use super::{dir_if_any, run_command, Outcome, Validator};

pub const MONITORING_DIR: &str = "deploy/k8s/base/monitoring";
/// PrometheusRule manifests are `prometheusrule-<name>.yaml`.
const RULE_PREFIX: &str = "prometheusrule-";

/// `promtool check rules` on every PrometheusRule's rules, then
/// `promtool test rules` on every unit test file of the folder.
pub const PROMTOOL_K8S_RULES: Validator = Validator {
    name: "promtool-prometheusrule",
    tools: &["promtool"],
    targets: |paths| dir_if_any(paths, MONITORING_DIR),
    run: |root, target| match check(&root.join(target)) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    },
};

/// Write each `prometheusrule-<name>.yaml` of `dir` as `out/rules/<name>.yml`
/// (its `spec`) and copy `dir/tests/*.yml` to `out/tests/`. Returns the rule
/// files and the test files written, relative to `out`.
pub fn extract(dir: &Path, out: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let read_dir = |d: &Path| -> Result<Vec<std::path::PathBuf>, String> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(out.join("rules")).map_err(|e| io(out, e))?;
    std::fs::create_dir_all(out.join("tests")).map_err(|e| io(out, e))?;
    let mut rules = Vec::new();
    for path in read_dir(dir)? {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let Some(name) = file
            .strip_prefix(RULE_PREFIX)
            .and_then(|s| s.strip_suffix(".yaml"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let doc: serde_norway::Value =
            serde_norway::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        if doc.get("kind").and_then(|k| k.as_str()) != Some("PrometheusRule") {
            return Err(format!("{file} is not a PrometheusRule"));
        }
        let spec = doc
            .get("spec")
            .ok_or_else(|| format!("{file} has no spec"))?;
        let yaml = serde_norway::to_string(spec).map_err(|e| format!("{file}: {e}"))?;
        let rel = format!("rules/{name}.yml");
        std::fs::write(out.join(&rel), yaml).map_err(|e| io(out, e))?;
        rules.push(rel);
    }
    let mut tests = Vec::new();
    let tests_dir = dir.join("tests");
    if tests_dir.is_dir() {
        for path in read_dir(&tests_dir)? {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            if file.ends_with(".yml") {
                let rel = format!("tests/{file}");
                std::fs::copy(&path, out.join(&rel)).map_err(|e| io(&path, e))?;
                tests.push(rel);
            }
        }
    }
    Ok((rules, tests))
}

fn check(dir: &Path) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let (rules, tests) = extract(dir, scratch.path())?;
    // A folder with nothing to check would pass silently.
    if rules.is_empty() || tests.is_empty() {
        return Err(format!(
            "{} has {} PrometheusRule files and {} unit test files; expected both",
            dir.display(),
            rules.len(),
            tests.len()
        ));
    }
    let promtool = |args: &[&str]| match run_command(
        command("promtool").current_dir(scratch.path()).args(args),
    ) {
        Outcome::Pass => Ok(()),
        Outcome::Fail(e) => Err(e),
    };
    for r in &rules {
        promtool(&["check", "rules", r])?;
    }
    for t in &tests {
        promtool(&["test", "rules", t])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitoring_folder_is_one_target() {
        let paths = [
            "deploy/k8s/base/monitoring/kustomization.yaml",
            "deploy/k8s/base/monitoring/prometheusrule-app.yaml",
            "monitoring/prometheus/rules/app.yml",
        ];
        assert_eq!((PROMTOOL_K8S_RULES.targets)(&paths), [MONITORING_DIR]);
        assert!((PROMTOOL_K8S_RULES.targets)(&["compose.yaml"]).is_empty());
    }

    #[test]
    fn extract_writes_each_spec_as_a_rule_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        std::fs::write(
            dir.path().join("prometheusrule-app.yaml"),
            "kind: PrometheusRule\nspec:\n  groups:\n    - name: g\n      rules: []\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("servicemonitor.yaml"),
            "kind: ServiceMonitor\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("tests/app.test.yml"), "tests: []\n").unwrap();
        let (rules, tests) = extract(dir.path(), out.path()).unwrap();
        assert_eq!(rules, ["rules/app.yml"]);
        assert_eq!(tests, ["tests/app.test.yml"]);
        let written = std::fs::read_to_string(out.path().join("rules/app.yml")).unwrap();
        assert!(written.starts_with("groups:"), "{written}");

        std::fs::write(dir.path().join("prometheusrule-x.yaml"), "kind: Secret\n").unwrap();
        let err = extract(dir.path(), out.path()).unwrap_err();
        assert!(err.contains("not a PrometheusRule"), "{err}");
    }
}
