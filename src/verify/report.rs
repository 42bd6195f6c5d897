//! `shipready verify`'s report: one line per check in table order, each
//! failure with the validator's own output, and a summary that counts
//! everything, including generated files that are gone and so were not
//! checked.

use std::fmt::Write as _;

use super::{Finding, Outcome};
use crate::ui;

/// Files gone from disk named in the report; the rest are only counted.
const MISSING_NAMED: usize = 5;

/// The report's text, and whether it fails the run.
pub fn report(
    findings: &[Finding],
    paths: &[&str],
    missing: &[&str],
    strict: bool,
) -> (String, bool) {
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    let mut out = String::new();
    for f in findings {
        let (label, note, output) = match &f.result {
            Ok(Outcome::Pass) => {
                pass += 1;
                ("ok", String::new(), "")
            }
            Ok(Outcome::Fail(text)) => {
                fail += 1;
                ("FAIL", String::new(), text.as_str())
            }
            Err(why) => {
                skip += 1;
                (
                    if strict { "FAIL" } else { "skip" },
                    format!(" ({why})"),
                    "",
                )
            }
        };
        line(&mut out, label, f, &note, output);
    }
    if !missing.is_empty() {
        let named: Vec<&str> = missing.iter().take(MISSING_NAMED).copied().collect();
        let more = match missing.len() - named.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let _ = writeln!(
            out,
            "  {} {} of shipready.toml's files are not on disk (not checked): {}{more}",
            ui::state("gone", 5),
            missing.len(),
            named.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "verify: {pass} passed, {fail} failed, {skip} skipped; {} checks of {} generated files ({} missing, not checked)",
        findings.len(),
        paths.len(),
        missing.len()
    );
    if skip > 0 {
        let _ = writeln!(
            out,
            "{}",
            ui::hint("Skipped checks need their validator on PATH; scripts/install-test-deps.sh in shipready's repository installs them all.")
        );
    }
    (out, fail > 0 || (strict && skip > 0))
}

/// One check's line: its state, validator and target (with `note`), then
/// the validator's own `output` indented under it.
fn line(out: &mut String, label: &str, f: &Finding, note: &str, output: &str) {
    let _ = writeln!(
        out,
        "  {} {:<16} {}{note}",
        ui::state(label, 5),
        f.validator,
        f.target
    );
    for l in output.trim_end().lines() {
        let _ = writeln!(out, "        {l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(validator: &'static str, result: Result<Outcome, String>) -> Finding {
        Finding {
            validator,
            target: "Dockerfile".into(),
            result,
        }
    }

    #[test]
    fn the_summary_counts_every_check_and_every_missing_file() {
        let findings = [
            finding("hadolint", Ok(Outcome::Pass)),
            finding("yamllint", Ok(Outcome::Fail("a\nb\n".into()))),
            finding("checkov", Err("checkov not found on PATH".into())),
        ];
        let (text, failed) = report(&findings, &["Dockerfile"], &["compose.yaml"], false);
        assert!(failed);
        assert!(text.contains("        a\n        b\n"), "{text}");
        assert!(
            text.contains(
                "gone  1 of shipready.toml's files are not on disk (not checked): compose.yaml\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "verify: 1 passed, 1 failed, 1 skipped; 3 checks of 1 generated files (1 missing, not checked)"
            ),
            "{text}"
        );
        // A missing validator fails only under --strict.
        let (text, failed) = report(&findings[2..], &["Dockerfile"], &[], false);
        assert!(!failed && !text.contains("gone"), "{text}");
        let many: Vec<String> = (1..=7).map(|n| format!("f{n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let (text, _) = report(&[], &[], &many, false);
        assert!(text.contains("7 of shipready.toml's files are not on disk (not checked): f1, f2, f3, f4, f5 and 2 more"), "{text}");
        let (text, failed) = report(&findings[2..], &["Dockerfile"], &[], true);
        assert!(failed && text.contains("FAIL  checkov"), "{text}");
    }
}
