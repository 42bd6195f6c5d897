//! What an audit reports: each check's status with evidence, the score,
//! and what `shipready init` would add to close the gaps.

use serde::Serialize;

use crate::ui;

/// Where a property was found (or where a problem is).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub file: String,
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}  {}", self.file, self.line, self.text)
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Gap,
    NotApplicable,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// What was found: proof for a pass, the offending lines for a gap.
    pub evidence: Vec<Evidence>,
    /// One sentence: why it passes, what is missing, or why it does not apply.
    pub detail: String,
    /// For a gap: the files `shipready init` would add that close it.
    pub fix: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryResult {
    pub id: &'static str,
    pub title: &'static str,
    pub passed: usize,
    pub applicable: usize,
    pub checks: Vec<CheckResult>,
}

/// The preset `shipready init` would start from here, and why.
#[derive(Debug, Clone, Serialize)]
pub struct InitPlan {
    pub preset: Option<String>,
    pub reason: Option<String>,
    /// Every file named by a gap's fix, once, in report order.
    pub adds: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: String,
    /// 0–100: passed / applicable checks, rounded down.
    pub score: u32,
    pub passed: usize,
    pub applicable: usize,
    pub gaps: usize,
    pub init: InitPlan,
    pub categories: Vec<CategoryResult>,
}

pub fn render_text(r: &Report) -> String {
    let mut out = format!(
        "{} {} — score {}/100 ({} of {} applicable checks pass)\n",
        ui::heading("shipready audit of"),
        r.dir,
        r.score,
        r.passed,
        r.applicable
    );
    let width = r
        .categories
        .iter()
        .flat_map(|c| c.checks.iter().map(|k| k.title.len()))
        .max()
        .unwrap_or(30);
    for c in &r.categories {
        out.push_str(&format!(
            "\n{}  {}/{}\n",
            ui::heading(c.title),
            c.passed,
            c.applicable
        ));
        for k in &c.checks {
            let (label, style) = match k.status {
                Status::Pass => ("ok", "ok"),
                Status::Gap => ("gap", "fail"),
                Status::NotApplicable => ("n/a", "n/a"),
            };
            let styled = ui::state_style(style).apply_to(format!("{label:<4}"));
            out.push_str(&format!("  {styled} {:<width$}  {}\n", k.title, k.detail));
            let pad = " ".repeat(width + 9);
            for e in k.evidence.iter().take(4) {
                out.push_str(&format!("{pad}{e}\n"));
            }
            if k.evidence.len() > 4 {
                out.push_str(&format!("{pad}… and {} more\n", k.evidence.len() - 4));
            }
            if !k.fix.is_empty() {
                out.push_str(&format!(
                    "{pad}{}\n",
                    ui::hint(&format!("fix: `shipready init` adds {}", k.fix.join(", ")))
                ));
            }
        }
    }
    if r.gaps > 0 {
        let preset = match (&r.init.preset, &r.init.reason) {
            (Some(p), Some(why)) => format!(" with preset {p} ({why})"),
            (Some(p), None) => format!(" with preset {p}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "\n{} gaps. `shipready init`{preset} adds {} files: {}.\n(`shipready init --dry-run` shows them first; `shipready detect` shows its answers.)\n",
            r.gaps,
            r.init.adds.len(),
            r.init.adds.join(", ")
        ));
    }
    out
}
