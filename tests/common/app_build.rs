//! A reference app's build, as the generated Dockerfile's build stage does
//! it, in a folder kept between runs: sources copied afresh, `npm ci` only
//! when the lock file changed, the build only when an input changed.

use super::e2e::run_ok;
use super::{copy_dir, require_tool, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What the generated Node Dockerfile's build stage runs: the install, the
/// app's build if it has one, the prune of dev dependencies.
pub const NODE_BUILD_STEPS: [&str; 3] = [
    "npm ci",
    "npm run build --if-present",
    "npm prune --omit=dev",
];

/// The reference app `name` under tests/apps.
pub fn reference_app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps")
        .join(name)
}

/// A build folder kept between runs (under the test target's temp dir), so
/// installs and builds are redone only when their inputs change.
pub fn kept_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The generated files an app uses, as (path, contents) for `extra`.
pub fn generated_files<'a>(generated: &Run, paths: &[&'a str]) -> Vec<(&'a str, String)> {
    paths.iter().map(|&f| (f, generated.read(f))).collect()
}

/// The `RUN` instructions of one Dockerfile stage, continuation lines joined.
pub fn stage_runs(dockerfile: &str, stage: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    let mut name = String::new();
    let mut in_run = false;
    for line in dockerfile.lines() {
        if let Some(rest) = line.strip_prefix("FROM ") {
            name = rest.rsplit(" AS ").next().unwrap().trim().to_string();
        }
        if name != stage {
            continue;
        }
        if line.starts_with("RUN ") {
            in_run = true;
            current.clear();
        }
        if in_run {
            current.push_str(line.trim_end_matches('\\').trim());
            current.push(' ');
            if !line.ends_with('\\') {
                runs.push(current.trim().to_string());
                in_run = false;
            }
        }
    }
    runs
}

/// Fails unless the Dockerfile's `stage` runs each of `steps`.
pub fn assert_stage_runs(dockerfile: &str, stage: &str, steps: &[&str]) {
    let runs = stage_runs(dockerfile, stage);
    let joined = runs.join("\n");
    for step in steps {
        assert!(
            joined.contains(step),
            "the {stage} stage has no `{step}`: {runs:?}"
        );
    }
}

/// The app at `src` staged in `dir`: each of `subdirs` the app has replaced
/// by its current copy, `files` copied, and `extra` (path, contents: the
/// generated files it uses, the shared browser launcher) written over them. `npm ci` runs from the local npm cache when the
/// lock file differs from the one last installed (stamped in node_modules); then
/// `after_install` runs (a build stage's `npm prune`, say), before the stamp.
pub fn stage_node_app(
    src: &Path,
    dir: &Path,
    subdirs: &[&str],
    files: &[&str],
    extra: &[(&str, String)],
    after_install: impl FnOnce(&Path),
) {
    stage_node_app_with(src, dir, subdirs, files, extra, &[], after_install);
}

/// [`stage_node_app`] with more `npm ci` flags (`--ignore-scripts`, say).
pub fn stage_node_app_with(
    src: &Path,
    dir: &Path,
    subdirs: &[&str],
    files: &[&str],
    extra: &[(&str, String)],
    ci_flags: &[&str],
    after_install: impl FnOnce(&Path),
) {
    std::fs::create_dir_all(dir).unwrap();
    for sub in subdirs {
        let _ = std::fs::remove_dir_all(dir.join(sub));
        if src.join(sub).exists() {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            copy_dir(&src.join(sub), &dir.join(sub));
        }
    }
    for file in files {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    for (path, contents) in extra {
        let to = dir.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, contents).unwrap();
    }
    let lock = std::fs::read(src.join("package-lock.json")).unwrap();
    let stamp = dir.join("node_modules/.installed-from-lock");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        run_ok(
            Command::new(require_tool("npm"))
                .args(["ci", "--prefer-offline", "--no-audit", "--no-fund"])
                .args(ci_flags)
                .current_dir(dir),
            "npm ci (scripts/install-test-deps.sh fills the npm cache)",
        );
        after_install(dir);
        std::fs::write(&stamp, &lock).unwrap();
    }
}

/// A script of tests/apps/_shared that reference apps' e2e scripts require,
/// staged at `staged` (`e2e/browser-launch.cjs`, say) beside them so it
/// loads its packages from the app's: (path, contents) for `extra`.
pub fn shared_script(staged: &'static str) -> (&'static str, String) {
    let name = Path::new(staged).file_name().unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps/_shared")
        .join(name);
    (staged, std::fs::read_to_string(shared).unwrap())
}

/// A hash of the files under `paths` (relative to `dir`): names and bytes,
/// so a build is redone only when an input changed.
pub fn fingerprint(dir: &Path, paths: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    fn walk(p: &Path, h: &mut std::collections::hash_map::DefaultHasher) {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, h);
            }
        } else if let Ok(bytes) = std::fs::read(p) {
            p.hash(h);
            bytes.hash(h);
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in paths {
        walk(&dir.join(p), &mut h);
    }
    format!("{:016x}", h.finish())
}

/// Like make: `build` runs in `dir` when `output` is missing or `inputs`
/// changed since the build recorded in `stamp` (paths relative to `dir`).
pub fn build_when_changed(
    dir: &Path,
    inputs: &[&str],
    stamp: &str,
    output: &str,
    what: &str,
    build: &mut Command,
) {
    let fingerprint = fingerprint(dir, inputs);
    let stamp = dir.join(stamp);
    if dir.join(output).exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str())
    {
        return;
    }
    let started = Instant::now();
    run_ok(build.current_dir(dir), what);
    std::fs::write(&stamp, fingerprint).unwrap();
    eprintln!("{what}: {:.0?}", started.elapsed());
}
