//! `shipready diff`: drift between the disk and a fresh render.
//!
//! The lock's profile is rendered with the current templates and every path
//! gets exactly one state (see [`DriftState`]). The patch goes from the disk
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
use crate::error::{exit, Error};
use crate::init::load_templates;
use crate::lock::{normalize_newlines, Lock, LOCK_FILE};
use crate::merge;
use crate::plan::{FileChange, FileState, Plan};
use crate::render;
use crate::templates::Templates;
use crate::ui;

/// The state `diff` reports for a path: one per path, always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftState {
    /// Disk, lock and render agree.
    Unchanged,
    /// The template changed; the file is still the last render.
    Outdated,
    /// Edited locally; the template did not change.
    Modified,
    /// Edited locally and changed by the template, or a file shipready did
    /// not write standing where it would write one, or conflict markers left
    /// by `update` that nobody resolved yet.
    Conflicting,
    /// Deleted locally; the render still has it.
    Missing,
    /// Rendered now, unknown to the lock and absent from disk.
    New,
    /// In the lock, no longer rendered.
    Orphaned,
}

impl DriftState {
    pub const ALL: [DriftState; 7] = [
        DriftState::Unchanged,
        DriftState::Outdated,
        DriftState::Modified,
        DriftState::Conflicting,
        DriftState::Missing,
        DriftState::New,
        DriftState::Orphaned,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DriftState::Unchanged => "unchanged",
            DriftState::Outdated => "outdated",
            DriftState::Modified => "modified",
            DriftState::Conflicting => "conflicting",
            DriftState::Missing => "missing",
            DriftState::New => "new",
            DriftState::Orphaned => "orphaned",
        }
    }
}

/// Why a state was chosen, where the state alone does not say.
pub fn note(change: &FileChange) -> Option<&'static str> {
    match change.state {
        FileState::Untracked => Some("exists, but shipready did not write it"),
        FileState::Modified | FileState::Conflicting
            if change
                .disk
                .as_deref()
                .is_some_and(merge::has_conflict_markers) =>
        {
            Some("unresolved conflict markers")
        }
        FileState::Orphaned => match (&change.disk, &change.base) {
            (None, _) => Some("already deleted"),
            (Some(d), Some(b)) if crate::lock::hash(d) != b.sha256 => {
                Some("edited locally; update keeps it")
            }
            _ => Some("update removes it"),
        },
        FileState::Missing => Some("deleted locally; update restores it"),
        _ => None,
    }
}

/// Map a plan state to the state `diff` reports.
pub fn drift_state(change: &FileChange) -> DriftState {
    match change.state {
        FileState::Unchanged => DriftState::Unchanged,
        FileState::New => DriftState::New,
        FileState::Outdated => DriftState::Outdated,
        FileState::Modified => {
            if change
                .disk
                .as_deref()
                .is_some_and(merge::has_conflict_markers)
            {
                DriftState::Conflicting
            } else {
                DriftState::Modified
            }
        }
        FileState::Conflicting | FileState::Untracked => DriftState::Conflicting,
        FileState::Missing => DriftState::Missing,
        FileState::Orphaned => DriftState::Orphaned,
    }
}

/// Read the lock in `dir`, load the templates and check that they are at
/// least as new as the ones the lock was written with.
pub fn open(dir: &Path, overlay: Option<&Path>) -> Result<(Lock, Templates), Error> {
    let lock = Lock::read(dir)?.ok_or_else(|| Error::NoLock(dir.to_path_buf()))?;
    let templates = load_templates(overlay)?;
    require_templates(&lock, templates.version(), dir)?;
    Ok((lock, templates))
}

/// A lock written by newer templates than these cannot be diffed or updated
/// safely: the render would go backwards and undo template changes.
pub fn require_templates(lock: &Lock, available: &str, dir: &Path) -> Result<(), Error> {
    if compare_versions(&lock.template_version, available) != std::cmp::Ordering::Greater {
        return Ok(());
    }
    let needed = &lock.template_version;
    let by = &lock.shipready_version;
    let ours = env!("CARGO_PKG_VERSION");
    let how = if compare_versions(by, ours) == std::cmp::Ordering::Greater {
        format!(
            "Install shipready {by} or newer (cargo install shipready --version {by}), \
             or pass --templates DIR holding a template set whose VERSION is {needed} or newer."
        )
    } else {
        format!(
            "shipready {by} wrote it from a --templates overlay; pass --templates DIR holding \
             that template set (VERSION {needed} or newer)."
        )
    };
    Err(Error::Lock {
        path: Lock::path(dir),
        message: format!(
            "written with templates {needed}, newer than the templates {available} this shipready {ours} has; \
             rendering them would undo template changes. {how}"
        ),
    })
}

/// Compare dotted numeric versions ("1.10.0" > "1.9.3"); a pre-release or
/// build suffix is ignored, missing parts count as 0, and parts that are not
/// numbers compare as text.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> Vec<&str> {
        let core = v.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next().unwrap_or("");
        core.split('.').collect()
    }
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).copied().unwrap_or("0");
        let y = pb.get(i).copied().unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

/// One path as `diff` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FileDrift {
    pub path: String,
    pub state: DriftState,
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
    let (lock, templates) = open(&args.dir, args.templates.as_deref())?;
    let tree = render::render(&lock.profile, &templates)?;
    let plan = Plan::compute(&args.dir, &tree, Some(&lock))?;
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
        counts: DriftState::ALL
            .iter()
            .map(|s| {
                (
                    s.label(),
                    changes.iter().filter(|c| drift_state(c) == *s).count(),
                )
            })
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
    let state = drift_state(change);
    let mut entry = FileDrift {
        path: change.path.clone(),
        state,
        note: note(change),
        added: 0,
        removed: 0,
        patch: String::new(),
    };
    if state == DriftState::Unchanged {
        return entry;
    }
    let disk = change.disk.as_deref().map(normalize_newlines);
    let rendered = change.rendered.as_ref().map(|r| r.contents.as_str());
    let mode = change
        .rendered
        .as_ref()
        .map(|r| r.mode)
        .or_else(|| {
            change
                .base
                .as_ref()
                .and_then(|b| u32::from_str_radix(&b.mode, 8).ok())
        })
        .unwrap_or(0o644);
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
        .filter(|f| f.state != DriftState::Unchanged)
        .collect();
    let width = differing.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for f in &differing {
        let mut line = format!(
            "{} {:<width$}  {} {}",
            ui::state(f.state.label(), 11),
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
    let parts: Vec<String> = DriftState::ALL
        .iter()
        .filter(|s| **s != DriftState::Unchanged)
        .filter_map(|s| {
            let n = report.counts.get(s.label()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {}", s.label()))
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
    use std::cmp::Ordering;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10.0", "1.9.3"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("2.0.0-rc.1", "2.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("v1.2.0", "1.1.9"), Ordering::Greater);
    }

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
