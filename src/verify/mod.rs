//! `shipready verify`: run each ecosystem's real validator over the files
//! shipready generated.
//!
//! Validators are a table: a name, the tools it needs on PATH, which of the
//! generated paths it checks, and how. Areas register theirs in their own
//! submodule. Jobs run in parallel; results print in table order so the
//! output is stable. A validator whose tool is missing is reported as
//! skipped, and fails the run under `--strict` (the test suite and CI use
//! `--strict`, so a missing validator can never pass silently).

mod container;
pub mod edge;
mod loadtest;
mod monitoring;
pub mod terraform;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::VerifyArgs;
use crate::core::lock::Lock;
use crate::error::{exit, Error};
use crate::ui;

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

/// Every validator shipready knows, in report order.
pub const VALIDATORS: &[Validator] = &[
    container::HADOLINT,
    container::COMPOSE,
    container::COMPOSE_LINT,
    container::YAMLLINT,
    edge::NGINX,
    edge::GIXY,
    edge::REDIS,
    terraform::FMT,
    terraform::HCL_PARSE,
    terraform::CHECKOV,
    monitoring::PROMTOOL_RULES,
    monitoring::PROMTOOL_TESTS,
    monitoring::PROMTOOL_CONFIG,
    monitoring::AMTOOL,
    monitoring::SHELLCHECK,
    workflows::ACTIONLINT,
    workflows::ZIZMOR,
    loadtest::PY_COMPILE,
];

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub validator: &'static str,
    pub target: String,
    pub result: Result<Outcome, String>,
}

pub fn run(args: &VerifyArgs) -> Result<i32, Error> {
    let lock = Lock::read(&args.dir)?.ok_or_else(|| Error::NoLock(args.dir.clone()))?;
    let paths: Vec<&str> = lock
        .files
        .keys()
        .map(String::as_str)
        .filter(|p| args.dir.join(p).exists())
        .collect();
    let findings = check(&args.dir, &paths);
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for f in &findings {
        match &f.result {
            Ok(Outcome::Pass) => {
                pass += 1;
                println!("  {} {:<16} {}", ui::state("ok", 5), f.validator, f.target);
            }
            Ok(Outcome::Fail(out)) => {
                fail += 1;
                println!(
                    "  {} {:<16} {}",
                    ui::state("FAIL", 5),
                    f.validator,
                    f.target
                );
                for line in out.trim_end().lines() {
                    println!("        {line}");
                }
            }
            Err(missing) => {
                skip += 1;
                let label = if args.strict { "FAIL" } else { "skip" };
                println!(
                    "  {} {:<16} {} ({missing})",
                    ui::state(label, 5),
                    f.validator,
                    f.target
                );
            }
        }
    }
    println!("verify: {pass} passed, {fail} failed, {skip} skipped");
    if skip > 0 {
        println!(
            "{}",
            ui::hint("Skipped checks need their validator on PATH; scripts/install-test-deps.sh in shipready's repository installs them all.")
        );
    }
    Ok(if fail > 0 || (args.strict && skip > 0) {
        exit::FINDINGS
    } else {
        exit::OK
    })
}

/// Run every validator over `paths` (relative to `root`). A missing tool
/// gives `Err(message)` for each of that validator's targets.
pub fn check(root: &Path, paths: &[&str]) -> Vec<Finding> {
    let jobs: Vec<(&Validator, String)> = VALIDATORS
        .iter()
        .flat_map(|v| (v.targets)(paths).into_iter().map(move |t| (v, t)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Finding>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((v, target)) = jobs.get(i) else {
                    break;
                };
                let result = match v.tools.iter().find(|t| which(t).is_none()) {
                    Some(missing) => Err(format!("{missing} not found on PATH")),
                    None => Ok((v.run)(root, target)),
                };
                *results[i].lock().expect("no panics while holding the lock") = Some(Finding {
                    validator: v.name,
                    target: target.clone(),
                    result,
                });
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

/// Run a command; pass when it exits 0, else fail with its output.
pub fn run_command(cmd: &mut Command) -> Outcome {
    match cmd.output() {
        Ok(out) if out.status.success() => Outcome::Pass,
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if text.trim().is_empty() {
                text = format!("exited with {}", out.status);
            }
            Outcome::Fail(text)
        }
        Err(e) => Outcome::Fail(format!("could not run {:?}: {e}", cmd.get_program())),
    }
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
