//! `shipready diff`: drift between the disk and a fresh render.
//!
//! The lock's profile is rendered with the current templates and every path
//! gets exactly one state (see `FileState::label`). The patch goes from the disk
//! (`a/`) to what shipready would write (`b/`), like `kubectl diff`, so the
//! plain output can be fed to `git apply`; new and missing files come from
//! `/dev/null`, orphaned ones go to it. Line endings are compared with CRLF
//! folded to LF, so a Windows checkout is not drift.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use crate::cli::{DiffArgs, Format};
use crate::core::lock::LOCK_FILE;
use crate::core::plan::{FileChange, FileState, Plan};
use crate::core::project::{Access, Project};
use crate::core::render;
use crate::core::text::normalize_newlines;
use crate::error::{exit, Error};
use crate::ui;

/// One path as `diff` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FileDrift {
    pub path: String,
    /// One of [`FileState::LABELS`].
    pub state: &'static str,
    #[serde(skip)]
    pub file_state: FileState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// Lines the patch adds (what shipready would write that the disk lacks).
    pub added: usize,
    /// Lines the patch removes (what the disk has that shipready would not write).
    pub removed: usize,
    /// The plain `git apply`-able patch for this path (empty when unchanged).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub patch: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: String,
    /// Version of the templates rendered now.
    pub template_version: String,
    /// Version of the templates the lock was written with.
    pub locked_template_version: String,
    /// True when every reported path is unchanged.
    pub clean: bool,
    /// Number of paths in each state (every state listed, zeros included).
    pub counts: BTreeMap<&'static str, usize>,
    /// Every path, in render order then orphans.
    pub files: Vec<FileDrift>,
}

pub fn run(args: &DiffArgs) -> Result<i32, Error> {
    let project = Project::open(&args.dir, args.templates.as_deref(), Access::Read)?;
    let lock = project.require_lock()?;
    let templates = &project.templates;
    let tree = render::render(&lock.profile, templates)?;
    let plan = Plan::compute(&args.dir, &tree, Some(lock))?;
    let filter = PathFilter::new(&args.paths)?;
    let changes: Vec<&FileChange> = plan
        .changes
        .iter()
        .filter(|c| filter.matches(&c.path))
        .collect();
    filter.check_all_used(&changes)?;

    // --stat leaves the patch text out of both formats.
    let with_patch = !args.stat;
    let report = Report {
        dir: args.dir.display().to_string(),
        template_version: templates.version().to_string(),
        locked_template_version: lock.template_version.clone(),
        clean: changes.iter().all(|c| c.state == FileState::Unchanged),
        counts: FileState::LABELS
            .iter()
            .map(|l| (*l, changes.iter().filter(|c| c.state.label() == *l).count()))
            .collect(),
        files: changes.iter().map(|c| file_drift(c, with_patch)).collect(),
    };

    let out = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report).expect("the report serialises");
            s.push('\n');
            s
        }
        Format::Text => text(&report, args.stat),
    };
    emit(&out)?;
    Ok(if report.clean {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

/// Write to stdout; a closed pipe (`shipready diff | head`) is not an error.
fn emit(out: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("stdout", e)),
    }
}

/// Build the report entry of one path; `with_patch` false skips the patch text.
pub fn file_drift(change: &FileChange, with_patch: bool) -> FileDrift {
    let mut entry = FileDrift {
        path: change.path.clone(),
        state: change.state.label(),
        file_state: change.state,
        note: change.note(),
        added: 0,
        removed: 0,
        patch: String::new(),
    };
    if change.state == FileState::Unchanged {
        return entry;
    }
    let disk = change.disk.as_deref().map(normalize_newlines);
    let rendered = change.rendered.as_ref().map(|r| r.contents.as_str());
    let mode = change.mode();
    let (old, new) = (disk.as_deref().unwrap_or(""), rendered.unwrap_or(""));
    let diff = TextDiff::from_lines(old, new);
    for ch in diff.iter_all_changes() {
        match ch.tag() {
            ChangeTag::Insert => entry.added += 1,
            ChangeTag::Delete => entry.removed += 1,
            ChangeTag::Equal => {}
        }
    }
    if !with_patch || (disk.is_none() && rendered.is_none()) {
        return entry;
    }
    let a = format!("a/{}", change.path);
    let b = format!("b/{}", change.path);
    let mut patch = format!("diff --git {a} {b}\n");
    let (from, to) = match (disk.is_some(), rendered.is_some()) {
        (false, true) => {
            patch.push_str(&format!("new file mode 100{mode:o}\n"));
            ("/dev/null", b.as_str())
        }
        (true, false) => {
            patch.push_str(&format!("deleted file mode 100{mode:o}\n"));
            (a.as_str(), "/dev/null")
        }
        _ => (a.as_str(), b.as_str()),
    };
    patch.push_str(
        &diff
            .unified_diff()
            .context_radius(3)
            .header(from, to)
            .to_string(),
    );
    entry.patch = patch;
    entry
}

fn text(report: &Report, stat_only: bool) -> String {
    let mut out = String::new();
    let differing: Vec<&FileDrift> = report
        .files
        .iter()
        .filter(|f| f.file_state != FileState::Unchanged)
        .collect();
    let width = differing.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for f in &differing {
        let mut line = format!(
            "{} {:<width$}  {} {}",
            ui::toned(f.state, f.file_state.tone(), 11),
            f.path,
            console::style(format!("+{}", f.added)).green(),
            console::style(format!("-{}", f.removed)).red(),
        );
        if let Some(n) = f.note {
            line.push_str(&format!("  {}", ui::hint(&format!("({n})"))));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !stat_only {
        for f in &differing {
            if f.patch.is_empty() {
                continue;
            }
            out.push('\n');
            out.push_str(&colour_patch(&f.patch));
        }
    }
    if !differing.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary(report));
    out
}

fn summary(report: &Report) -> String {
    let total = report.files.len();
    let unchanged = report.counts.get("unchanged").copied().unwrap_or(0);
    let version = if report.template_version == report.locked_template_version {
        format!("templates {}", report.template_version)
    } else {
        format!(
            "templates {} (lock: {})",
            report.template_version, report.locked_template_version
        )
    };
    if report.clean {
        return format!(
            "{} all {total} files match a fresh render ({version}).\n",
            ui::heading("No drift:")
        );
    }
    let parts: Vec<String> = FileState::LABELS
        .iter()
        .filter(|l| **l != "unchanged")
        .filter_map(|l| {
            let n = report.counts.get(l).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {l}"))
        })
        .collect();
    let mut s = format!(
        "{} {} of {total} files differ from a fresh render ({version}): {}; {unchanged} unchanged.\n",
        ui::heading("Drift:"),
        total - unchanged,
        parts.join(", ")
    );
    s.push_str(&ui::hint(
        "Lines with - are on disk, lines with + are what shipready would write. \
         `shipready update` brings template changes in and keeps local edits.",
    ));
    s.push('\n');
    s
}

/// Colour a patch line by line (a no-op when colour is off).
fn colour_patch(patch: &str) -> String {
    if !console::colors_enabled() {
        return patch.to_string();
    }
    let mut out = String::with_capacity(patch.len() + patch.len() / 4);
    for line in patch.lines() {
        let styled = if line.starts_with("diff --git")
            || line.starts_with("--- ")
            || line.starts_with("+++ ")
            || line.starts_with("new file mode")
            || line.starts_with("deleted file mode")
        {
            console::style(line).bold().to_string()
        } else if line.starts_with("@@") {
            console::style(line).cyan().to_string()
        } else if line.starts_with('+') {
            console::style(line).green().to_string()
        } else if line.starts_with('-') {
            console::style(line).red().to_string()
        } else {
            line.to_string()
        };
        out.push_str(&styled);
        out.push('\n');
    }
    out
}

/// `PATH…` arguments: a file, or a directory meaning everything under it.
struct PathFilter {
    prefixes: Vec<String>,
}

impl PathFilter {
    fn new(paths: &[String]) -> Result<PathFilter, Error> {
        let mut prefixes = Vec::new();
        for p in paths {
            let mut s = p.replace('\\', "/");
            while let Some(rest) = s.strip_prefix("./") {
                s = rest.to_string();
            }
            let s = s.trim_end_matches('/').to_string();
            if s.is_empty() || s == "." {
                return Ok(PathFilter {
                    prefixes: Vec::new(),
                });
            }
            if Path::new(&s).is_absolute() || s.split('/').any(|c| c == "..") {
                return Err(Error::Usage(format!(
                    "{p}: give paths relative to the directory holding {LOCK_FILE} (--dir)"
                )));
            }
            prefixes.push(s);
        }
        Ok(PathFilter { prefixes })
    }

    fn matches(&self, path: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| prefix_of(p, path))
    }

    /// A PATH that names nothing shipready manages is a mistake worth saying.
    fn check_all_used(&self, changes: &[&FileChange]) -> Result<(), Error> {
        let unused: Vec<&str> = self
            .prefixes
            .iter()
            .filter(|p| !changes.iter().any(|c| prefix_of(p, &c.path)))
            .map(String::as_str)
            .collect();
        if unused.is_empty() {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "no file shipready manages matches {}. Run `shipready diff --stat` to see the files it manages.",
                unused.join(", ")
            )))
        }
    }
}

fn prefix_of(prefix: &str, path: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_files_and_directories() {
        let f = PathFilter::new(&["./deploy/".into(), "Dockerfile".into()]).unwrap();
        assert!(f.matches("deploy/nginx/nginx.conf"));
        assert!(f.matches("Dockerfile"));
        assert!(!f.matches("deployment.yaml"));
        assert!(!f.matches("Dockerfile.dev"));
        assert!(PathFilter::new(&["../x".into()]).is_err());
        assert!(PathFilter::new(&[".".into()]).unwrap().matches("anything"));
    }
}
