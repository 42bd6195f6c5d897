//! Three-way merge of a locally edited file with a new render.
//!
//! base = the last render (kept in the lock), ours = the file on disk,
//! theirs = the fresh render. Conflicts become inline markers labelled with
//! who wrote each side, never `.rej` files, so a person resolves them where
//! they are and `diff`/`update` keep reporting them until they are gone.

use crate::core::text::normalize_newlines;

/// Label of the local side in conflict markers.
pub const OURS_LABEL: &str = "local (your edits)";
/// Start of the template side's label; the template version follows.
pub const THEIRS_LABEL: &str = "template";

const OURS_MARKER: &str = "<<<<<<< local (your edits)";
const THEIRS_MARKER_PREFIX: &str = ">>>>>>> template";

/// The outcome of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The merged text, with conflict markers where the sides disagree, in
    /// the line endings of the local file.
    pub text: String,
    /// Number of conflicting regions (0 for a clean merge).
    pub conflicts: usize,
}

/// Merge `ours` (disk) and `theirs` (new render) from their common `base`.
/// `template_version` labels the template side of a conflict. CRLF in any
/// input is folded for the merge; the result uses CRLF when `ours` did.
pub fn merge3(base: &str, ours: &str, theirs: &str, template_version: &str) -> Merged {
    let crlf = uses_crlf(ours);
    let base = terminated(&normalize_newlines(base));
    let ours = terminated(&normalize_newlines(ours));
    let theirs = terminated(&normalize_newlines(theirs));
    let mut opts = diffy::MergeOptions::new();
    opts.set_conflict_style(diffy::ConflictStyle::Merge);
    let (raw, clean) = match opts.merge(&base, &ours, &theirs) {
        Ok(t) => (t, true),
        Err(t) => (t, false),
    };
    let mut text = String::with_capacity(raw.len() + 64);
    let mut conflicts = 0;
    let theirs_marker = format!("{THEIRS_MARKER_PREFIX} {template_version}");
    for line in raw.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if !clean && body == "<<<<<<< ours" {
            text.push_str(OURS_MARKER);
            text.push('\n');
            conflicts += 1;
        } else if !clean && body == ">>>>>>> theirs" {
            text.push_str(&theirs_marker);
            text.push('\n');
        } else {
            text.push_str(line);
        }
    }
    if crlf {
        text = text.replace('\n', "\r\n");
    }
    Merged { text, conflicts }
}

/// Whether `text` still holds conflict markers written by `update`.
pub fn has_conflict_markers(text: &str) -> bool {
    let mut open = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line == OURS_MARKER {
            open = true;
        } else if open && line.starts_with(THEIRS_MARKER_PREFIX) {
            return true;
        }
    }
    false
}

/// Whether a file's lines end in CRLF (judged by its first line break).
pub fn uses_crlf(text: &str) -> bool {
    text.find('\n')
        .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r')
}

/// `text` in the line endings of a file that used CRLF when `crlf` is set.
pub fn with_line_endings(text: &str, crlf: bool) -> String {
    if crlf {
        normalize_newlines(text).replace('\n', "\r\n")
    } else {
        text.to_string()
    }
}

/// Merging needs every line terminated, or a marker would join the last line.
fn terminated(text: &str) -> String {
    let mut s = text.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn non_overlapping_edits_both_survive() {
        let base = lines(12);
        let ours = format!("# mine\n{base}");
        let theirs = format!("{base}# template addition\n");
        let m = merge3(&base, &ours, &theirs, "1.1.0");
        assert_eq!(m.conflicts, 0);
        assert_eq!(m.text, format!("# mine\n{base}# template addition\n"));
        assert!(!has_conflict_markers(&m.text));
    }

    #[test]
    fn overlapping_edits_get_labelled_markers() {
        let base = lines(5);
        let ours = base.replace("line 3\n", "line three (mine)\n");
        let theirs = base.replace("line 3\n", "line 3 (template)\n");
        let m = merge3(&base, &ours, &theirs, "2.0.0");
        assert_eq!(m.conflicts, 1);
        assert_eq!(
            m.text,
            "line 1\nline 2\n<<<<<<< local (your edits)\nline three (mine)\n=======\nline 3 (template)\n>>>>>>> template 2.0.0\nline 4\nline 5\n"
        );
        assert!(has_conflict_markers(&m.text));
    }

    #[test]
    fn crlf_local_file_stays_crlf() {
        let base = lines(12);
        let ours = format!("# mine\n{base}").replace('\n', "\r\n");
        let theirs = format!("{base}# template addition\n");
        let m = merge3(&base, &ours, &theirs, "1.1.0");
        assert_eq!(m.conflicts, 0);
        assert_eq!(
            m.text,
            format!("# mine\n{base}# template addition\n").replace('\n', "\r\n")
        );
    }

    #[test]
    fn missing_final_newline_does_not_glue_markers() {
        let m = merge3("a\n", "mine", "theirs\n", "1.0.1");
        assert_eq!(m.conflicts, 1);
        assert!(m.text.lines().any(|l| l == "mine"));
        assert!(m.text.lines().any(|l| l == "======="));
    }

    #[test]
    fn detects_only_our_markers() {
        assert!(!has_conflict_markers(
            "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> b\n"
        ));
        assert!(!has_conflict_markers("=======\n"));
    }
}
