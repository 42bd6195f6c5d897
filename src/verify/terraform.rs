//! Validators for the Terraform under `infra/terraform`: `terraform fmt`,
//! an HCL parse of every file with python-hcl2, and checkov.
//!
//! `terraform validate` is not among them: it needs the AWS provider, which
//! cannot be downloaded everywhere shipready runs. The test suite adds a
//! reference cross-check in its place (tests/validators/terraform.rs).

use std::path::{Path, PathBuf};

use super::output::command;
use super::{dir_if_any, run_command, which, Outcome, Validator};

/// The directory every Terraform validator checks.
pub const DIR: &str = "infra/terraform";

pub const FMT: Validator = Validator {
    name: "terraform-fmt",
    tools: &["terraform"],
    targets: |paths| dir_if_any(paths, DIR),
    run: |root, target| {
        run_command(
            command("terraform")
                .current_dir(root)
                // No CLI config or plugin cache is needed to format.
                .env("TF_CLI_CONFIG_FILE", "/dev/null")
                .args(["fmt", "-check", "-recursive", "-diff", "-no-color", target]),
        )
    },
};

pub const HCL_PARSE: Validator = Validator {
    name: "hcl-parse",
    tools: &["hcl2tojson"],
    targets: |paths| dir_if_any(paths, DIR),
    run: |root, target| hcl_parse(root, target),
};

pub const CHECKOV: Validator = Validator {
    name: "checkov",
    tools: &["checkov"],
    targets: |paths| dir_if_any(paths, DIR),
    run: |root, target| {
        run_command(
            command("checkov")
                .current_dir(root)
                // Never reach the network; fail (not pass) on a parse error.
                .env("BC_SKIP_MAPPING", "TRUE")
                .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
                .env("CKV_PARSE_ERROR_FAIL", "true")
                .args([
                    "-d",
                    target,
                    "--framework",
                    "terraform",
                    "--skip-download",
                    "--quiet",
                    "--compact",
                ]),
        )
    },
};

/// The Python that has `hcl2` installed: the interpreter named in the
/// `#!` line of python-hcl2's own `hcl2tojson` script (pip writes the
/// venv's python there), else `python3` beside it.
pub fn hcl2_python() -> Option<PathBuf> {
    let script = which("hcl2tojson")?;
    let text = std::fs::read_to_string(&script).ok()?;
    let from_shebang = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .map(str::trim)
        .filter(|p| !p.contains(' ') && Path::new(p).is_file())
        .map(PathBuf::from);
    from_shebang.or_else(|| {
        let beside = script.parent()?.join("python3");
        beside.is_file().then_some(beside)
    })
}

/// Files the HCL parse covers: every `.tf` and `.tfvars` under `dir`
/// (none when `dir` cannot be read; [`try_hcl_files`] says why).
pub fn hcl_files(dir: &Path) -> Vec<PathBuf> {
    try_hcl_files(dir).unwrap_or_default()
}

/// [`hcl_files`], failing on a directory that cannot be read rather than
/// passing over the files in it unchecked.
pub fn try_hcl_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in entries {
            let p = e.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if p.is_dir() {
                // Provider downloads after a local `terraform init`.
                if p.file_name().is_some_and(|n| n != ".terraform") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "tf" || x == "tfvars") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

const PARSE_SCRIPT: &str = r#"
import sys, hcl2
bad = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            hcl2.load(f)
    except Exception as e:
        bad += 1
        print(f"{path}: {e}")
sys.exit(1 if bad else 0)
"#;

fn hcl_parse(root: &Path, target: &str) -> Outcome {
    let Some(python) = hcl2_python() else {
        return Outcome::Fail("cannot find the Python that runs hcl2tojson".into());
    };
    let files = match try_hcl_files(&root.join(target)) {
        Ok(files) => files,
        Err(e) => return Outcome::Fail(format!("cannot list the Terraform files: {e}")),
    };
    if files.is_empty() {
        return Outcome::Fail(format!("no .tf files under {target}"));
    }
    run_command(
        command(python)
            .current_dir(root)
            .arg("-c")
            .arg(PARSE_SCRIPT)
            .args(files.iter().map(|p| p.strip_prefix(root).unwrap_or(p))),
    )
}
