//! `shipready audit`: score an existing repository against the
//! production-readiness checklist, without the network.
//!
//! Each check looks for the property itself (`ssl_protocols TLSv1.2 TLSv1.3`,
//! `cap_drop: [ALL]` on every compose service, Traefik's `stsSeconds`), not
//! for shipready's own file names, so it gives the same answer on a
//! hand-written repository. A check passes with evidence (file:line), is a
//! gap with the exact files `shipready init` would add to close it, or does
//! not apply (e.g. Redis checks in a repository without Redis). The score
//! is the share of applicable checks that pass; any gap exits 1 unless
//! `--exit-zero`.

mod containers;
mod data;
mod edge;
mod facts;
mod ops;
mod probe;
mod report;
mod secrets;
mod table;
pub mod walk;

use std::path::Path;

pub use report::{render_text, CategoryResult, CheckResult, Evidence, InitPlan, Report, Status};
pub use walk::{Repo, SourceFile};

use crate::error::Error;
use facts::Ctx;
use probe::Outcome;
use table::CATEGORIES;

/// Audit `dir` and return the report.
pub fn audit(dir: &Path) -> Result<Report, Error> {
    let repo = Repo::load(dir)?;
    let ctx = Ctx::new(&repo, dir);
    let mut categories = Vec::new();
    let mut adds: Vec<String> = Vec::new();
    for cat in CATEGORIES {
        let checks: Vec<CheckResult> = cat
            .checks
            .iter()
            .map(|c| {
                let (status, evidence, detail) = match table::run(c, &ctx) {
                    Outcome::Pass(ev, d) => (Status::Pass, ev, d),
                    Outcome::Gap(ev, d) => (Status::Gap, ev, d),
                    Outcome::Na(d) => (Status::NotApplicable, Vec::new(), d),
                };
                let fix = if status == Status::Gap {
                    ctx.fix_files(c.fixed_by)
                } else {
                    Vec::new()
                };
                for f in &fix {
                    if !adds.contains(f) {
                        adds.push(f.clone());
                    }
                }
                CheckResult {
                    id: c.id,
                    title: c.title,
                    status,
                    evidence,
                    detail,
                    fix,
                }
            })
            .collect();
        let passed = checks.iter().filter(|c| c.status == Status::Pass).count();
        let applicable = checks
            .iter()
            .filter(|c| c.status != Status::NotApplicable)
            .count();
        categories.push(CategoryResult {
            id: cat.id,
            title: cat.title,
            passed,
            applicable,
            checks,
        });
    }
    let passed: usize = categories.iter().map(|c| c.passed).sum();
    let applicable: usize = categories.iter().map(|c| c.applicable).sum();
    let score = (passed * 100).checked_div(applicable).unwrap_or(0) as u32;
    Ok(Report {
        dir: dir.display().to_string(),
        score,
        passed,
        applicable,
        gaps: applicable - passed,
        init: InitPlan {
            preset: ctx.proposal.preset.as_ref().map(|p| p.name.to_string()),
            reason: ctx.proposal.preset.as_ref().map(|p| p.reason.clone()),
            adds,
        },
        categories,
    })
}

/// Every check id, in report order (for tests and docs).
pub fn check_ids() -> Vec<&'static str> {
    CATEGORIES
        .iter()
        .flat_map(|c| c.checks.iter().map(|k| k.id))
        .collect()
}

// Helpers shared by the check modules.

fn pass(e: Evidence, detail: &str) -> Outcome {
    Outcome::Pass(vec![e], detail.to_string())
}

fn gap(detail: impl Into<String>) -> Outcome {
    Outcome::Gap(Vec::new(), detail.into())
}

/// A runtime dependency in any package.json: its line as evidence.
fn node_dep(ctx: &Ctx, names: &[&str]) -> Option<Evidence> {
    for f in ctx.repo.matching(walk::is_package_json) {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&f.text) else {
            continue;
        };
        for n in names {
            if json.get("dependencies").and_then(|d| d.get(n)).is_some() {
                let pat = format!("\"{}\"", regex::escape(n));
                if let Some(e) = walk::grep_file(f, &walk::re(&pat)).into_iter().next() {
                    return Some(e);
                }
            }
        }
    }
    None
}

fn py_dep(ctx: &Ctx, names: &[&str]) -> Option<Evidence> {
    for f in ctx.repo.files.iter().filter(|f| {
        let n = walk::file_name(&f.path);
        n == "pyproject.toml" || (n.starts_with("requirements") && n.ends_with(".txt"))
    }) {
        for n in names {
            let pat = format!(r#"(?i)(^|["'\s]){}(\[|[<>=~!;\s"']|$)"#, regex::escape(n));
            if let Some(e) = walk::grep_file(f, &walk::re(&pat)).into_iter().next() {
                return Some(e);
            }
        }
    }
    None
}
