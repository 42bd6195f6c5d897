//! `shipready verify`: run each ecosystem's real validator over the files
//! shipready generated.
//!
//! Validators are a table: a name, the tools it needs on PATH, which of the
//! generated paths it checks, and how. Areas register theirs in their own
//! submodule; `sandbox` holds the temp-dir servers that the nginx and Redis
//! checks (and the test suite) start. Jobs run in parallel, slow ones first;
//! results print in table order so the output is stable. A failure shows the
//! validator's exit status and its own output (`output`); `report` prints
//! them with progress on a terminal. A validator whose tool is missing is
//! reported as skipped, and fails the run under `--strict` (the test suite
//! and CI use `--strict`, so a missing validator can never pass silently).

mod container;
pub mod crd_schemas;
pub mod edge;
pub mod kubernetes;
mod loadtest;
mod monitoring;
mod nginx;
pub mod output;
pub mod prometheus_rule;
mod redis;
mod report;
pub mod sandbox;
pub mod terraform;
mod workflows;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub use output::run_command;
pub use report::report;

/// How one validator is run.
pub struct Validator {
    /// Shown in the report, e.g. "hadolint".
    pub name: &'static str,
    /// Executables that must be on PATH.
    pub tools: &'static [&'static str],
    /// From the generated paths, the targets (files or directories) to check.
    pub targets: fn(&[&str]) -> Vec<String>,
    /// Check one target; `root` is the generated tree.
    pub run: fn(&Path, &str) -> Outcome,
}

/// The result of checking one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
}

impl Outcome {
    /// Pass on `Ok` (whatever it counted), or fail with the error's text.
    pub fn of<T>(result: Result<T, String>) -> Outcome {
        match result {
            Ok(_) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        }
    }
}

/// Every validator shipready knows, in report order.
pub const VALIDATORS: &[Validator] = &[
    container::HADOLINT,
    container::COMPOSE,
    container::COMPOSE_LINT,
    container::YAMLLINT,
    nginx::NGINX,
    nginx::GIXY,
    redis::REDIS,
    terraform::FMT,
    terraform::HCL_PARSE,
    terraform::CHECKOV,
    monitoring::PROMTOOL_RULES,
    monitoring::PROMTOOL_TESTS,
    monitoring::PROMTOOL_CONFIG,
    monitoring::AMTOOL,
    prometheus_rule::PROMTOOL_K8S_RULES,
    monitoring::SHELLCHECK,
    workflows::ACTIONLINT,
    workflows::ZIZMOR,
    loadtest::PY_COMPILE,
    kubernetes::KUSTOMIZE,
    kubernetes::SCHEMAS,
    kubernetes::CHECKOV,
    crd_schemas::CRD_SCHEMAS,
    crd_schemas::TRIVY,
];

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub validator: &'static str,
    pub target: String,
    pub result: Result<Outcome, String>,
}

/// Validators that take longest, started first so that the last one to
/// finish is not a slow one begun late (on 2 cores, checkov alone takes
/// about as long as everything else together).
const SLOW_FIRST: &[&str] = &[
    "checkov",
    "checkov-kubernetes",
    "crd-schemas",
    "trivy-kubernetes",
    "redis-server",
    "hcl-parse",
    "docker-compose",
];

/// Run every validator over `paths` (relative to `root`). A missing tool
/// gives `Err(message)` for each of that validator's targets.
pub fn check(root: &Path, paths: &[&str]) -> Vec<Finding> {
    check_with(root, paths, &|_| {}, &|_| {})
}

/// [`check`] with only the validators `names` (each must be in the table),
/// for callers that want one validator's verdict without running the rest.
pub fn check_only(root: &Path, paths: &[&str], names: &[&str]) -> Vec<Finding> {
    for name in names {
        assert!(
            VALIDATORS.iter().any(|v| v.name == *name),
            "no validator named {name:?}"
        );
    }
    run_jobs(root, paths, &|v| names.contains(&v.name), &|_| {}, &|_| {})
}

/// [`check`], telling `started` how many checks there are, then `done` as
/// each one finishes (from a worker thread). Independent checks run
/// concurrently, one per core; the result is in table order.
pub fn check_with(
    root: &Path,
    paths: &[&str],
    started: &dyn Fn(usize),
    done: &(dyn Fn(&Finding) + Sync),
) -> Vec<Finding> {
    run_jobs(root, paths, &|_| true, started, done)
}

fn run_jobs(
    root: &Path,
    paths: &[&str],
    wanted: &dyn Fn(&Validator) -> bool,
    started: &dyn Fn(usize),
    done: &(dyn Fn(&Finding) + Sync),
) -> Vec<Finding> {
    let jobs: Vec<(&Validator, String)> = VALIDATORS
        .iter()
        .filter(|v| wanted(v))
        .flat_map(|v| (v.targets)(paths).into_iter().map(move |t| (v, t)))
        .collect();
    started(jobs.len());
    let slowness = |v: &Validator| {
        SLOW_FIRST
            .iter()
            .position(|n| *n == v.name)
            .unwrap_or(SLOW_FIRST.len())
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| slowness(jobs[i].0));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Finding>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let (v, target) = &jobs[i];
                    let result = match v.tools.iter().find(|t| which(t).is_none()) {
                        Some(missing) => Err(format!("{missing} not found on PATH")),
                        None => Ok((v.run)(root, target)),
                    };
                    let finding = Finding {
                        validator: v.name,
                        target: target.clone(),
                        result,
                    };
                    done(&finding);
                    *results[i].lock().expect("no panics while holding the lock") = Some(finding);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("not poisoned")
                .expect("every job ran")
        })
        .collect()
}

/// The full path of `tool` on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Targets: every generated path accepted by `pred`.
pub fn files_where(paths: &[&str], pred: impl Fn(&str) -> bool) -> Vec<String> {
    paths
        .iter()
        .filter(|p| pred(p))
        .map(|p| p.to_string())
        .collect()
}

/// Targets: `dir` once, when any generated path lies under it.
pub fn dir_if_any(paths: &[&str], dir: &str) -> Vec<String> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    if paths.iter().any(|p| p.starts_with(&prefix)) {
        vec![dir.to_string()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_names_are_unique() {
        let mut names: Vec<_> = VALIDATORS.iter().map(|v| v.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
