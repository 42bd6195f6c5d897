//! Where scripts/install-test-deps.sh puts the test-only packages that are
//! not on PATH (npm folders, venvs): found, or the test fails with the
//! command that installs them.

use std::path::PathBuf;

/// `rel` under the tools folder (SHIPREADY_TOOLS, default
/// ~/.cache/shipready-tools), which must exist.
pub fn test_package(rel: &str) -> PathBuf {
    let tools = std::env::var_os("SHIPREADY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/shipready-tools")
        });
    let path = tools.join(rel);
    assert!(
        path.exists(),
        "{} is not installed: run `bash scripts/install-test-deps.sh`",
        path.display()
    );
    path
}
