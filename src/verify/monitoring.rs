//! Validators for the observability and backup files: Prometheus rules,
//! their unit tests and the server config (promtool), the Alertmanager
//! config (amtool), and every generated shell script (shellcheck).

use super::output::command;
use super::{files_where, run_command, Validator};

const RULES_DIR: &str = "monitoring/prometheus/rules/";
const TESTS_DIR: &str = "monitoring/prometheus/tests/";
const PROMETHEUS_CONFIG: &str = "monitoring/prometheus/prometheus.yml";
const ALERTMANAGER_CONFIG: &str = "monitoring/alertmanager/alertmanager.yml";

fn yaml_under(paths: &[&str], dir: &str) -> Vec<String> {
    files_where(paths, |p| {
        p.strip_prefix(dir)
            .is_some_and(|rest| !rest.contains('/') && rest.ends_with(".yml"))
    })
}

/// `promtool check rules`: syntax, PromQL and templates of each rule file.
pub const PROMTOOL_RULES: Validator = Validator {
    name: "promtool-rules",
    tools: &["promtool"],
    targets: |paths| yaml_under(paths, RULES_DIR),
    run: |root, target| {
        run_command(
            command("promtool")
                .current_dir(root)
                .args(["check", "rules", target]),
        )
    },
};

/// `promtool test rules`: each alert fires on its failing input and stays
/// quiet on the healthy one.
pub const PROMTOOL_TESTS: Validator = Validator {
    name: "promtool-test",
    tools: &["promtool"],
    targets: |paths| yaml_under(paths, TESTS_DIR),
    run: |root, target| {
        run_command(
            command("promtool")
                .current_dir(root)
                .args(["test", "rules", target]),
        )
    },
};

/// `promtool check config`: the server config, and the rule files it names.
/// Fully offline: the scrape targets are only parsed, never contacted.
pub const PROMTOOL_CONFIG: Validator = Validator {
    name: "promtool-config",
    tools: &["promtool"],
    targets: |paths| files_where(paths, |p| p == PROMETHEUS_CONFIG),
    run: |root, target| {
        run_command(
            command("promtool")
                .current_dir(root)
                .args(["check", "config", target]),
        )
    },
};

/// `amtool check-config`: routes, receivers and notification templates.
pub const AMTOOL: Validator = Validator {
    name: "amtool",
    tools: &["amtool"],
    targets: |paths| files_where(paths, |p| p == ALERTMANAGER_CONFIG),
    run: |root, target| {
        run_command(
            command("amtool")
                .current_dir(root)
                .args(["check-config", target]),
        )
    },
};

/// shellcheck on every generated shell script, whatever its area.
pub const SHELLCHECK: Validator = Validator {
    name: "shellcheck",
    tools: &["shellcheck"],
    targets: |paths| files_where(paths, |p| p.ends_with(".sh")),
    run: |root, target| {
        run_command(command("shellcheck").current_dir(root).args([
            "--severity=style",
            "--external-sources",
            target,
        ]))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pick_the_right_files() {
        let paths = [
            "monitoring/prometheus/prometheus.yml",
            "monitoring/prometheus/rules/app.yml",
            "monitoring/prometheus/tests/app.test.yml",
            "monitoring/alertmanager/alertmanager.yml",
            "scripts/backup-postgres.sh",
            "docker-entrypoint.sh",
            "compose.yaml",
        ];
        assert_eq!(
            (PROMTOOL_RULES.targets)(&paths),
            ["monitoring/prometheus/rules/app.yml"]
        );
        assert_eq!(
            (PROMTOOL_TESTS.targets)(&paths),
            ["monitoring/prometheus/tests/app.test.yml"]
        );
        assert_eq!((PROMTOOL_CONFIG.targets)(&paths), [PROMETHEUS_CONFIG]);
        assert_eq!((AMTOOL.targets)(&paths), [ALERTMANAGER_CONFIG]);
        assert_eq!(
            (SHELLCHECK.targets)(&paths),
            ["scripts/backup-postgres.sh", "docker-entrypoint.sh"]
        );
    }
}
