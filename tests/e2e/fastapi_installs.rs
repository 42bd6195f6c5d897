//! The generated FastAPI Dockerfile's dependency installs, each branch run
//! natively and offline: requirements.txt must carry hashes (pip
//! --require-hashes), and a poetry.lock is exported with hashes and installed
//! by the same pip command. (The uv.lock branch runs in tests/e2e/fastapi.rs,
//! which installs the reference app with it.)

use crate::common;

use common::app_build::{reference_app, stage_runs};
use common::e2e::{python, run_ok, tools_dir};
use common::init_preset;
use std::path::PathBuf;
use std::process::Command;

const PRESET: &str = "fastapi-three-tier";

fn app_source() -> PathBuf {
    reference_app(PRESET)
}

/// A one-module wheel, written by hand (offline), and its sha256.
const MAKE_WHEEL: &str = r#"
import base64, hashlib, sys, zipfile
path = sys.argv[1] + "/tiny-1.0-py3-none-any.whl"
files = {
    "tiny.py": "VALUE = 1\n",
    "tiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n",
    "tiny-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = ""
for name, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record += f"{name},sha256={digest},{len(text.encode())}\n"
files["tiny-1.0.dist-info/RECORD"] = record + "tiny-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(path, "w") as z:
    for name, text in files.items():
        z.writestr(name, text)
print(hashlib.sha256(open(path, "rb").read()).hexdigest())
"#;

/// The requirements.txt branch of the generated build stage, run offline
/// (a local wheel, no index): a requirement without a hash or with a wrong
/// one is refused; with its hash it installs.
#[test]
fn requirements_install_of_the_generated_dockerfile_requires_hashes() {
    let generated = init_preset(PRESET);
    let runs = stage_runs(&generated.read("Dockerfile"), "build");
    let install = runs
        .iter()
        .find(|r| r.contains("requirements.txt"))
        .unwrap();
    let command = install
        .split("elif [ -f requirements.txt ]; then")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .trim();
    assert_eq!(
        command,
        "pip install --no-cache-dir --require-hashes -r requirements.txt"
    );
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    std::fs::create_dir(&wheels).unwrap();
    // As the build stage: `python -m venv /opt/venv`, then its pip.
    let venv = dir.path().join("venv");
    run_ok(
        Command::new(python()).args(["-m", "venv"]).arg(&venv),
        "python -m venv",
    );
    let python = venv.join("bin/python");
    let sha = run_ok(
        Command::new(&python).args(["-c", MAKE_WHEEL]).arg(&wheels),
        "make a wheel",
    );
    let sha = sha.trim();
    let words: Vec<&str> = command.split_whitespace().collect();
    let pip = |requirements: &str| {
        std::fs::write(dir.path().join("requirements.txt"), requirements).unwrap();
        let out = Command::new(&python)
            .arg("-m")
            .args(&words)
            .args(["--dry-run", "--no-index", "--find-links"])
            .arg(&wheels)
            .env("PIP_CONFIG_FILE", "/dev/null")
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = pip("tiny==1.0\n");
    assert!(!ok && out.contains("Hashes are required"), "{out}");
    let (ok, out) = pip(&format!("tiny==1.0 --hash=sha256:{}\n", "0".repeat(64)));
    assert!(!ok && out.contains("DO NOT MATCH THE HASHES"), "{out}");
    let (ok, out) = pip(&format!("tiny==1.0 --hash=sha256:{sha}\n"));
    assert!(ok && out.contains("Would install tiny-1.0"), "{out}");
}

/// One `&&`-separated command of the build stage's branch for `lock_file`.
fn branch_commands(dockerfile: &str, lock_file: &str) -> Vec<String> {
    let runs = stage_runs(dockerfile, "build");
    let install = runs.iter().find(|r| r.contains(lock_file)).unwrap();
    let branch = install
        .split(&format!("[ -f {lock_file} ]; then"))
        .nth(1)
        .and_then(|rest| rest.split("; elif").next())
        .unwrap_or_else(|| panic!("no {lock_file} branch in {install}"));
    branch
        .trim()
        .trim_end_matches(';')
        .split("&&")
        .map(|c| c.trim().to_string())
        .collect()
}

/// The poetry.lock branch of the generated build stage: Poetry (pinned as
/// the Dockerfile pins it) exports the lock with a hash on every package,
/// and the Dockerfile's pip command installs exactly that, offline from the
/// wheelhouse scripts/install-test-deps.sh downloads; the venv then runs
/// the app's imports.
#[test]
fn poetry_lock_install_of_the_generated_dockerfile_works() {
    let generated = init_preset(PRESET);
    let commands = branch_commands(&generated.read("Dockerfile"), "poetry.lock");
    let [make_venv, install_poetry, export, install] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(make_venv, "python -m venv /opt/installer");
    assert!(
        install_poetry.ends_with("poetry==2.5.1 poetry-plugin-export==1.10.1"),
        "install-test-deps.sh installs these pins: {install_poetry}"
    );
    let export: Vec<&str> = export.split_whitespace().collect();
    assert_eq!(export[0], "/opt/installer/bin/poetry", "{export:?}");
    let install: Vec<&str> = install.split_whitespace().collect();
    assert_eq!(
        install,
        [
            "pip",
            "install",
            "--no-cache-dir",
            "--require-hashes",
            "--no-deps",
            "-r",
            "/tmp/requirements.locked.txt"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    for file in ["pyproject.toml", "poetry.lock"] {
        std::fs::copy(app_source().join(file), dir.path().join(file)).unwrap();
    }
    let poetry = tools_dir().join("poetry/bin/poetry");
    let wheelhouse = tools_dir().join("fastapi-wheelhouse");
    assert!(
        poetry.exists() && wheelhouse.is_dir(),
        "Poetry and the wheelhouse are missing: run `bash scripts/install-test-deps.sh`"
    );
    let locked = dir.path().join("requirements.locked.txt");
    let export_args: Vec<String> = export[1..]
        .iter()
        .map(|a| {
            if *a == "/tmp/requirements.locked.txt" {
                locked.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    run_ok(
        Command::new(&poetry)
            .args(&export_args)
            .current_dir(dir.path()),
        "poetry export",
    );
    let text = std::fs::read_to_string(&locked).unwrap();
    let packages: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.contains("=="))
        .collect();
    assert!(packages.len() >= 20, "{text}");
    assert!(
        packages.iter().any(|p| p.starts_with("fastapi==0.116.1")),
        "{text}"
    );
    assert!(
        packages.iter().all(|p| p.trim_end().ends_with('\\')),
        "every package carries hashes: {text}"
    );

    let venv = dir.path().join("venv");
    run_ok(
        Command::new(python()).args(["-m", "venv"]).arg(&venv),
        "python -m venv",
    );
    run_ok(
        Command::new(venv.join("bin/python"))
            .arg("-m")
            .args(&install[..install.len() - 1])
            .arg(&locked)
            .args(["--no-index", "--find-links"])
            .arg(&wheelhouse)
            // Bytecode is beside the point here and most of pip's time.
            .arg("--no-compile")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .current_dir(dir.path()),
        "pip install --require-hashes (poetry export)",
    );
    run_ok(
        Command::new(venv.join("bin/python")).args([
            "-c",
            "import fastapi, uvicorn, celery, redis, psycopg, alembic, sqlalchemy",
        ]),
        "the app's imports",
    );
}
