//! promtool over what a test scraped from a generated metrics module: the
//! exposition format, and the generated alert rules on the scraped series.

use super::{require_tool, Run};
use std::io::Write;
use std::process::{Command, Stdio};

/// `promtool check metrics` on the text, fed on standard input.
pub fn check_metrics(text: &str, what: &str) {
    let mut child = Command::new(require_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: promtool check metrics rejects the scrape:\n{}{}\n--- scrape ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `file` (a rule test over the scraped series) written at `rel` in the
/// render, beside the generated tests, and run there by `promtool test rules`.
pub fn test_rules(run: &Run, rel: &str, file: &str, what: &str) {
    std::fs::write(run.path().join(rel), file).unwrap();
    let out = Command::new(require_tool("promtool"))
        .current_dir(run.path())
        .args(["test", "rules", rel])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: promtool test rules on the scraped series failed:\n{}{}\n--- {rel} ---\n{file}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
