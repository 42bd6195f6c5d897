//! Validators for the generated load test (`loadtest/`).

use super::output::command;
use super::{files_where, run_command, Outcome, Validator};

/// Every Python file of the load test compiles: `python3 -m py_compile`.
/// Byte code goes to a throwaway prefix so verify writes nothing into the
/// team's tree. (Locust itself is not needed for this; the test suite also
/// runs the suite for real.)
pub const PY_COMPILE: Validator = Validator {
    name: "py_compile",
    tools: &["python3"],
    targets: |paths| files_where(paths, |p| p.starts_with("loadtest/") && p.ends_with(".py")),
    run: |root, target| {
        let Ok(cache) = tempfile::tempdir() else {
            return Outcome::Fail("could not make a temp dir".into());
        };
        run_command(
            command("python3")
                .current_dir(root)
                .env("PYTHONPYCACHEPREFIX", cache.path())
                .args(["-m", "py_compile", target]),
        )
    },
};
