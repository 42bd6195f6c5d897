//! Running a validator and turning what it printed into a report entry:
//! both of its streams, its exit status, no colour when shipready's own
//! output has none, and a long report cut to its head and tail.

use std::ffi::OsStr;
use std::process::{Command, ExitStatus, Stdio};

use super::Outcome;

/// Flags that turn colour off, for tools that colour even into a pipe
/// (hadolint does) or decide by their own rules. The other validators print
/// plain text into a pipe, or are always run with their plain-text flag
/// (actionlint `-no-color`, zizmor `--color=never`, terraform `-no-color`,
/// yamllint and gixy with a plain `--format`).
const NO_COLOUR_FLAGS: &[(&str, &[&str])] = &[
    ("hadolint", &["--no-color"]),
    ("shellcheck", &["--color=never"]),
    ("docker-compose", &["--ansi", "never"]),
];

/// Environment that asks everything else for plain text: the NO_COLOR
/// convention, and Python's termcolor (checkov) which reads its own name.
const NO_COLOUR_ENV: &[(&str, &str)] = &[
    ("NO_COLOR", "1"),
    ("ANSI_COLORS_DISABLED", "1"),
    ("CLICOLOR", "0"),
];

/// Variables that would force colour back on despite the above.
const FORCE_COLOUR_ENV: &[&str] = &["FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS"];

/// A report longer than this many lines keeps its head and tail. Generous:
/// linters list every finding, and the one that matters (a CRITICAL among
/// many MEDIUMs) can be anywhere; only a runaway report is cut.
const MAX_LINES: usize = 200;
const HEAD_LINES: usize = 150;
/// Longer lines (minified JSON, a whole policy on one line) are cut.
const MAX_LINE_CHARS: usize = 400;

/// Whether validators must print plain text: shipready's stdout is not a
/// terminal, or NO_COLOR is set (both decided once in `ui::init_colour`).
pub fn plain() -> bool {
    !console::colors_enabled()
}

/// `tool` ready to run as a validator: no stdin, and without colour when
/// [`plain`] (flags first, so they precede any subcommand).
pub fn command(tool: impl AsRef<OsStr>) -> Command {
    let tool = tool.as_ref();
    let mut cmd = Command::new(tool);
    cmd.stdin(Stdio::null());
    if plain() {
        cmd.envs(NO_COLOUR_ENV.iter().copied());
        for var in FORCE_COLOUR_ENV {
            cmd.env_remove(var);
        }
        if let Some((_, flags)) = NO_COLOUR_FLAGS.iter().find(|(t, _)| OsStr::new(t) == tool) {
            cmd.args(*flags);
        }
    }
    cmd
}

/// Run a validator: pass when it exits 0, else fail with its exit status
/// and everything it printed. A crash (a signal, an exit code it never
/// uses for findings) is a failure like any other, never a pass.
pub fn run_command(cmd: &mut Command) -> Outcome {
    match cmd.output() {
        Ok(out) if out.status.success() => Outcome::Pass,
        Ok(out) => Outcome::Fail(failure(
            cmd.get_program(),
            out.status,
            &out.stdout,
            &out.stderr,
        )),
        Err(e) => Outcome::Fail(format!("could not run {:?}: {e}", cmd.get_program())),
    }
}

/// The report of a failed run: `<tool> exited with ...:` then its stdout
/// and stderr, cleaned by [`report_text`].
pub fn failure(tool: &OsStr, status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> String {
    let name = std::path::Path::new(tool)
        .file_name()
        .unwrap_or(tool)
        .to_string_lossy();
    let text = streams(stdout, stderr);
    if text.is_empty() {
        format!("{name} {} and printed nothing", describe(status))
    } else {
        format!("{name} {}:\n{text}", describe(status))
    }
}

/// stdout then stderr, each cleaned, empty ones left out.
pub fn streams(stdout: &[u8], stderr: &[u8]) -> String {
    [stdout, stderr]
        .iter()
        .map(|s| report_text(&String::from_utf8_lossy(s)))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// "exited with code 3", or "was killed by signal 11" (a crash).
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("was killed by signal {sig}");
        }
    }
    format!("ended with {status}")
}

/// A validator's output fit for the report: escape codes removed when
/// [`plain`], carriage-return progress collapsed, trailing blanks and blank
/// edges dropped, over-long lines and reports cut (saying how much).
pub fn report_text(text: &str) -> String {
    let text = if plain() {
        console::strip_ansi_codes(text).into_owned()
    } else {
        text.to_string()
    };
    let lines: Vec<String> = text
        .lines()
        // `a\rb` shows as `b` on a terminal: keep what a person would see.
        .map(|l| l.rsplit('\r').next().unwrap_or(l).trim_end())
        .map(cut_line)
        .collect();
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    let (Some(first), Some(last)) = (first, last) else {
        return String::new();
    };
    let lines = &lines[first..=last];
    if lines.len() <= MAX_LINES {
        return lines.join("\n");
    }
    let tail = MAX_LINES - HEAD_LINES;
    let hidden = lines.len() - HEAD_LINES - tail;
    let mut out = lines[..HEAD_LINES].to_vec();
    out.push(format!(
        "... {hidden} more lines; run the validator yourself to see them all ..."
    ));
    out.extend_from_slice(&lines[lines.len() - tail..]);
    out.join("\n")
}

fn cut_line(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((at, _)) => format!("{} ...", &line[..at]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reports_keep_head_and_tail() {
        let text: String = (1..=300).map(|n| format!("line {n}\n")).collect();
        let out = report_text(&format!("\n\n{text}\n  \n"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert_eq!(lines[0], "line 1");
        assert_eq!(lines[HEAD_LINES - 1], "line 150");
        assert!(lines[HEAD_LINES].contains("100 more lines"), "{out}");
        assert_eq!(*lines.last().unwrap(), "line 300");
        assert_eq!(report_text("short\n"), "short");
        assert_eq!(report_text(" \n\n"), "");
        assert_eq!(report_text("10%\r50%\rdone  \n"), "done");
        let long = "x".repeat(MAX_LINE_CHARS + 10);
        assert_eq!(report_text(&long).len(), MAX_LINE_CHARS + 4);
    }

    #[cfg(unix)]
    #[test]
    fn a_crash_is_a_failure_with_its_output() {
        let out = run_command(
            Command::new("sh").args(["-c", "echo found nothing; echo dying >&2; kill -SEGV $$"]),
        );
        let Outcome::Fail(text) = out else {
            panic!("a crash passed");
        };
        assert!(text.starts_with("sh was killed by signal 11:"), "{text}");
        assert!(text.contains("found nothing\ndying"), "{text}");
        let silent = run_command(Command::new("sh").args(["-c", "exit 3"]));
        assert_eq!(
            silent,
            Outcome::Fail("sh exited with code 3 and printed nothing".into())
        );
        assert_eq!(run_command(&mut Command::new("true")), Outcome::Pass);
    }
}
