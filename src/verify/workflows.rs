//! Validators for the GitHub Actions workflows.

use super::output::command;
use super::{files_where, run_command, which, Validator};

/// actionlint over each workflow, from the generated root (where it finds
/// `.github/` and any `actionlint.yaml`). The scripts in `run:` steps are
/// checked by the shellcheck on PATH, so it is required too: without it
/// actionlint would silently skip them.
pub const ACTIONLINT: Validator = Validator {
    name: "actionlint",
    tools: &["actionlint", "shellcheck"],
    targets: |paths| files_where(paths, is_workflow),
    run: |root, target| {
        let shellcheck = which("shellcheck")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        run_command(
            command("actionlint")
                .current_dir(root)
                // No `shell: python` steps here; an explicit empty path keeps
                // the result independent of whether pyflakes is installed.
                .args(["-no-color", "-pyflakes="])
                .arg(format!("-shellcheck={shellcheck}"))
                .arg(target),
        )
    },
};

/// zizmor (GitHub Actions security audits) over each workflow, from the
/// generated root, at its default persona. Offline always: no audit may
/// reach GitHub, whatever token the environment holds. Findings make it
/// exit non-zero, which fails the check with zizmor's report.
pub const ZIZMOR: Validator = Validator {
    name: "zizmor",
    tools: &["zizmor"],
    targets: |paths| files_where(paths, is_workflow),
    run: |root, target| {
        run_command(
            command("zizmor")
                .current_dir(root)
                .args(ZIZMOR_ARGS)
                .arg(target),
        )
    },
};

/// zizmor's options: never online, plain text without colour, links or
/// progress bars, only warnings and errors on stderr, and a workflow it
/// cannot parse is a failure rather than a skipped input.
const ZIZMOR_ARGS: &[&str] = &[
    "--offline",
    "--no-progress",
    "--color=never",
    "--render-links=never",
    "--strict-collection",
    "--quiet",
];

/// A workflow file: `.github/workflows/*.yml` or `*.yaml`.
pub fn is_workflow(path: &str) -> bool {
    path.strip_prefix(".github/workflows/").is_some_and(|name| {
        !name.contains('/') && (name.ends_with(".yml") || name.ends_with(".yaml"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_workflow_files_are_targets() {
        assert!(is_workflow(".github/workflows/ci.yml"));
        assert!(is_workflow(".github/workflows/deploy.yaml"));
        assert!(!is_workflow(".github/dependabot.yml"));
        assert!(!is_workflow(".github/workflows/scripts/x.yml"));
        assert!(!is_workflow("compose.yaml"));
    }

    #[test]
    fn zizmor_stays_offline_and_fails_on_findings() {
        assert!(ZIZMOR_ARGS.contains(&"--offline"));
        // Exit codes are how findings fail the check.
        assert!(!ZIZMOR_ARGS.contains(&"--no-exit-codes"));
        assert!(!ZIZMOR_ARGS.iter().any(|a| a.starts_with("--gh-token")));
    }
}
