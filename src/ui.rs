//! Terminal output: colour only on a terminal and never with NO_COLOR,
//! progress only on a terminal, and whether prompting is allowed at all.

use console::{style, Style, Term};
use std::io::IsTerminal;

use crate::core::plan::Tone;

/// Decide colour once at start-up.
pub fn init_colour() {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if no_color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    } else {
        console::set_colors_enabled(std::io::stdout().is_terminal());
        console::set_colors_enabled_stderr(std::io::stderr().is_terminal());
    }
}

/// Prompting needs a person: both ends a terminal and not in CI.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal()
        && std::env::var_os("CI").is_none_or(|v| v.is_empty() || v == "false")
}

pub fn stdout_is_terminal() -> bool {
    Term::stdout().is_term()
}

/// The colour of a plan outcome; plain text when colour is off.
pub fn tone_style(tone: Tone) -> Style {
    match tone {
        Tone::Added => Style::new().green(),
        Tone::Changed => Style::new().cyan(),
        Tone::Kept | Tone::Removed => Style::new().yellow(),
        Tone::Conflict => Style::new().red().bold(),
        Tone::Quiet => Style::new().dim(),
    }
}

/// `label` padded to `width` in the colour of `tone`.
pub fn toned(label: &str, tone: Tone, width: usize) -> String {
    tone_style(tone)
        .apply_to(format!("{label:<width$}"))
        .to_string()
}

/// Styles for check results (verify, audit); plain text when colour is off.
pub fn state_style(label: &str) -> Style {
    match label {
        "fail" | "FAIL" => Style::new().red().bold(),
        "ok" | "pass" => Style::new().green(),
        "missing" | "partial" | "skip" => Style::new().yellow(),
        _ => Style::new().dim(),
    }
}

/// "1 file", "2 files".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `label` padded to `width`, styled by its meaning.
pub fn state(label: &str, width: usize) -> String {
    state_style(label)
        .apply_to(format!("{label:<width$}"))
        .to_string()
}

pub fn heading(text: &str) -> String {
    style(text).bold().to_string()
}

pub fn hint(text: &str) -> String {
    style(text).dim().to_string()
}

pub fn error_prefix() -> String {
    console::Style::new()
        .red()
        .bold()
        .for_stderr()
        .apply_to("error:")
        .to_string()
}
