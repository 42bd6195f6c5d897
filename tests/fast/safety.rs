//! Never lose the user's work: a lock that lies, `--force`, failed and
//! killed runs, two runs at once, special files, old locks, and merges.
//! Each case is what a careless or hostile user really did; each must end
//! with the tree as it was or as it should be, never in between.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{init_args, init_preset};
use shipready::core::lock::Lock;
use shipready::core::text::hash;

fn sr(dir: &Path, args: &[&str]) -> common::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shipready"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .output()
        .expect("shipready runs");
    common::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn expect(dir: &Path, args: &[&str], code: i32) -> common::Output {
    let out = sr(dir, args);
    assert_eq!(
        out.code, code,
        "shipready {args:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

/// Every file under `root` with its bytes, and every directory.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let ty = std::fs::symlink_metadata(&p).unwrap().file_type();
            if ty.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                stack.push(p);
            } else if ty.is_file() {
                out.push((rel, std::fs::read(&p).unwrap()));
            } else {
                // A FIFO or socket: never read (it would block).
                out.push((format!("{rel} (special)"), Vec::new()));
            }
        }
    }
    out.sort();
    out
}

fn temp_files(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            p.rsplit('/')
                .next()
                .unwrap_or("")
                .starts_with(".shipready-")
        })
        .collect()
}

/// A fixed-seed generator, so a failure is reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn edit_lock(dir: &Path, f: impl FnOnce(&mut toml::Table)) {
    let path = dir.join("shipready.toml");
    let mut t: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    f(&mut t);
    std::fs::write(path, toml::to_string(&t).unwrap()).unwrap();
}

fn files_table(t: &mut toml::Table) -> &mut toml::Table {
    t.get_mut("files").unwrap().as_table_mut().unwrap()
}

fn entry(sha256: &str) -> toml::Value {
    let mut e = toml::Table::new();
    e.insert("sha256".into(), sha256.into());
    e.insert("mode".into(), "644".into());
    toml::Value::Table(e)
}

#[test]
fn a_lock_naming_files_shipready_never_writes_is_refused() {
    for victim in ["package.json", ".git/config"] {
        let run = init_preset("twilio-voice");
        let dir = run.path();
        let text = "{\"name\": \"the team's\"}\n";
        std::fs::create_dir_all(dir.join(victim).parent().unwrap()).unwrap();
        std::fs::write(dir.join(victim), text).unwrap();
        edit_lock(dir, |t| {
            files_table(t).insert(victim.into(), entry(&hash(text)));
        });
        for cmd in [&["update"][..], &["diff"]] {
            let out = expect(dir, cmd, 2);
            assert!(
                out.stderr.contains("never generates") && out.stderr.contains(victim),
                "{}",
                out.stderr
            );
        }
        assert_eq!(std::fs::read_to_string(dir.join(victim)).unwrap(), text);
    }
}

#[test]
fn a_hash_forged_to_match_an_edit_does_not_let_update_overwrite_it() {
    let run = init_preset("twilio-voice");
    let dir = run.path();
    let edited = format!("{}# the team's line\n", run.read("compose.yaml"));
    std::fs::write(dir.join("compose.yaml"), &edited).unwrap();
    edit_lock(dir, |t| {
        files_table(t).insert("compose.yaml".into(), entry(&hash(&edited)));
    });
    let out = expect(dir, &["update"], 2);
    assert!(
        out.stderr.contains(".shipready/base/compose.yaml")
            && out.stderr.contains("does not match"),
        "{}",
        out.stderr
    );
    assert_eq!(run.read("compose.yaml"), edited);
}

#[test]
fn init_refuses_to_render_a_tree_backwards() {
    let run = init_preset("twilio-voice");
    let dir = run.path();
    let overlay = tempfile::tempdir().unwrap();
    std::fs::write(overlay.path().join("VERSION"), "99.0.0\n").unwrap();
    let ov = overlay.path().to_str().unwrap();
    let mut args = init_args("twilio-voice", &["--templates", ov]);
    args.push("--force".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    expect(dir, &args, 0);
    let before = tree(dir);
    let args = init_args("twilio-voice", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = expect(dir, &args, 2);
    assert!(
        out.stderr.contains("newer than the templates"),
        "{}",
        out.stderr
    );
    assert_eq!(tree(dir), before);
}

#[test]
fn force_keeps_the_edit_and_its_advice_brings_it_back() {
    let run = init_preset("twilio-voice");
    let dir = run.path();
    let edited = format!("{}# the team's line\n", run.read("compose.yaml"));
    std::fs::write(dir.join("compose.yaml"), &edited).unwrap();

    let args = init_args("twilio-voice", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = expect(dir, &args, 1);
    assert!(
        out.stderr.contains("--force keeps your versions"),
        "{}",
        out.stderr
    );

    let mut forced = args.clone();
    forced.push("--force");
    let out = expect(dir, &forced, 0);
    assert_ne!(run.read("compose.yaml"), edited, "replaced");
    // The advice, taken as printed.
    let cp = out
        .stdout
        .lines()
        .find_map(|l| l.split_once(": cp ").map(|(_, rest)| format!("cp {rest}")))
        .unwrap_or_else(|| panic!("no cp advice in:\n{}", out.stdout));
    let status = Command::new("sh")
        .args(["-c", &cp])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "{cp}");
    assert_eq!(run.read("compose.yaml"), edited, "the edit is back");
    let out = expect(dir, &["diff", "--stat"], 1);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("modified") && l.contains("compose.yaml")),
        "{}",
        out.stdout
    );
    expect(dir, &["update"], 0);
    assert_eq!(run.read("compose.yaml"), edited, "update keeps it");
}

#[test]
fn a_fifo_at_a_generated_path_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("mkfifo")
        .arg(dir.path().join("Dockerfile"))
        .status()
        .unwrap();
    assert!(status.success());
    let args = init_args("twilio-voice", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipready"))
        .args(&args)
        .current_dir(dir.path())
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("init hung on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("special file"), "{err}");
    assert_eq!(tree(dir.path()).len(), 1, "nothing written");
}

/// `ulimit -f` makes every write past the size fail (EFBIG), as a full disk
/// would, part-way through the run.
fn run_with_file_limit(dir: &Path, kib: u32, args: &[&str]) -> common::Output {
    let script = format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\"");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_shipready"))
        .args(args)
        .current_dir(dir)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    common::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_write_that_fails_part_way_leaves_the_tree_as_it_was() {
    // init into a tree holding the team's own files.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.json"), "{}\n").unwrap();
    let before = tree(dir.path());
    let args = init_args("fastapi-three-tier", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_with_file_limit(dir.path(), 8, &args);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("File too large"), "{}", out.stderr);
    assert_eq!(tree(dir.path()), before, "init left the tree as it was");

    // update over a managed tree, with a template change to bring in.
    let run = init_preset("fastapi-three-tier");
    let overlay = tempfile::tempdir().unwrap();
    std::fs::write(overlay.path().join("VERSION"), "99.0.0\n").unwrap();
    let big = format!("# {}\n", "x".repeat(20_000));
    std::fs::write(overlay.path().join(".dockerignore.tera"), &big).unwrap();
    let before = tree(run.path());
    let ov = overlay.path().to_str().unwrap();
    let out = run_with_file_limit(run.path(), 12, &["update", "--templates", ov]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(tree(run.path()), before, "update left the tree as it was");
    expect(run.path(), &["update", "--templates", ov], 0);
}

#[test]
fn killed_runs_leave_no_temp_file_after_the_next_run() {
    let mut rng = Lcg(17);
    let dir = tempfile::tempdir().unwrap();
    let presets = ["fastapi-three-tier", "twilio-voice"];
    let mut killed_with_temps = 0;
    for i in 0..30 {
        let args = init_args(presets[i % 2], &["--force"]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_shipready"))
            .args(&args)
            .current_dir(dir.path())
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(rng.next(20_000)));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        if !temp_files(dir.path()).is_empty() {
            killed_with_temps += 1;
        }
        // The next run cleans up after the killed one.
        let args = init_args(presets[(i + 1) % 2], &["--force"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        expect(dir.path(), &args, 0);
        assert_eq!(temp_files(dir.path()), Vec::<String>::new(), "run {i}");
        expect(dir.path(), &["diff", "--stat"], 0);
    }
    eprintln!("{killed_with_temps} of 30 killed runs left temp files; all were removed");
}

#[test]
fn concurrent_runs_leave_a_lock_that_describes_the_files() {
    let run = init_preset("twilio-voice");
    let dir = run.path();
    for i in 0..50 {
        let a = format!("redis.maxmemory_mb={}", 300 + i);
        let b = if i % 2 == 0 {
            "monitoring.enabled=false"
        } else {
            "monitoring.enabled=true"
        };
        let spawn = |set: &str| {
            Command::new(env!("CARGO_BIN_EXE_shipready"))
                .args(["update", "--set", set])
                .current_dir(dir)
                .env("CI", "true")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (x, y) = (spawn(&a), spawn(b));
        for c in [x, y] {
            let out = c.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = expect(dir, &["diff", "--stat"], 0);
        assert!(out.stdout.contains("No drift"), "pair {i}: {}", out.stdout);
    }
}

#[test]
fn the_lock_is_small_and_branches_that_update_different_files_merge() {
    let run = init_preset("fastapi-three-tier");
    let dir = run.path();
    let size = std::fs::metadata(dir.join("shipready.toml")).unwrap().len();
    eprintln!("shipready.toml: {size} bytes");
    assert!(size < 20_000, "shipready.toml is {size} bytes");

    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);

    // Two template changes to two files, each on its own branch.
    let embedded = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let overlay = |files: &[&str]| {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("VERSION"), "99.0.0\n").unwrap();
        for f in files {
            let text = std::fs::read_to_string(embedded.join(f)).unwrap();
            std::fs::write(d.path().join(f), format!("{text}# changed upstream\n")).unwrap();
        }
        d
    };
    let (a, b, both) = (
        overlay(&[".dockerignore.tera"]),
        overlay(&[".hadolint.yaml.tera"]),
        overlay(&[".dockerignore.tera", ".hadolint.yaml.tera"]),
    );
    for (branch, ov) in [("a", &a), ("b", &b)] {
        git(&["checkout", "-q", "-b", branch, "main"]);
        expect(
            dir,
            &["update", "--templates", ov.path().to_str().unwrap()],
            0,
        );
        git(&["add", "-A"]);
        git(&["commit", "-qm", branch]);
    }
    git(&["merge", "-q", "--no-edit", "a"]);
    let out = expect(
        dir,
        &[
            "diff",
            "--stat",
            "--templates",
            both.path().to_str().unwrap(),
        ],
        0,
    );
    assert!(out.stdout.contains("No drift"), "{}", out.stdout);
}

#[test]
fn an_old_lock_with_inline_bases_is_read_and_migrated() {
    let run = init_preset("ringcentral-hold-hunter");
    let dir = run.path();
    // Rewrite the lock as schema 1 did: bases inline, no .shipready/.
    let lock = Lock::read(dir).unwrap().unwrap();
    edit_lock(dir, |t| {
        t.insert("schema".into(), 1.into());
        for (path, e) in files_table(t).iter_mut() {
            let base = lock.base(dir, path).unwrap().unwrap();
            e.as_table_mut().unwrap().insert("base".into(), base.into());
        }
    });
    std::fs::remove_dir_all(dir.join(".shipready")).unwrap();
    expect(dir, &["diff", "--stat"], 0);
    expect(dir, &["update"], 0);
    let lock = Lock::read(dir).unwrap().unwrap();
    assert_eq!(lock.schema, 2);
    assert!(lock.files.values().all(|f| f.base.is_none()));
    for path in lock.files.keys() {
        assert!(dir.join(".shipready/base").join(path).is_file(), "{path}");
    }
    expect(dir, &["diff", "--stat"], 0);
}

/// Random edits on both sides of a merge: every line the user wrote is in
/// the result, merged or between conflict markers.
#[test]
fn merges_never_lose_a_local_edit() {
    use shipready::core::merge::merge3;
    let mut rng = Lcg(2026);
    let mut conflicts = 0;
    for trial in 0..300 {
        let n = 5 + rng.next(40) as usize;
        let base: Vec<String> = (0..n).map(|i| format!("line {i}")).collect();
        let mutate = |rng: &mut Lcg, who: &str| {
            let mut lines = base.clone();
            let mut added = Vec::new();
            for k in 0..1 + rng.next(4) {
                let at = rng.next(lines.len() as u64 + 1) as usize;
                let line = format!("{who} {trial}.{k}");
                match rng.next(3) {
                    0 if at < lines.len() => lines[at] = line.clone(),
                    1 if at < lines.len() => {
                        lines.remove(at);
                        continue;
                    }
                    _ => lines.insert(at, line.clone()),
                }
                added.push(line);
            }
            (lines.join("\n") + "\n", added)
        };
        let (ours, mine) = mutate(&mut rng, "user");
        let (theirs, _) = mutate(&mut rng, "template");
        let m = merge3(&(base.join("\n") + "\n"), &ours, &theirs, "9.9.9");
        conflicts += m.conflicts;
        for line in &mine {
            // A line the user wrote and then deleted in the same trial is
            // not an edit to keep.
            if ours.lines().any(|l| l == line) {
                assert!(
                    m.text.lines().any(|l| l == line),
                    "trial {trial}: lost {line:?}\nours:\n{ours}\ntheirs:\n{theirs}\nmerged:\n{}",
                    m.text
                );
            }
        }
    }
    eprintln!("300 merges, {conflicts} conflicting regions, 0 edits lost");
    assert!(conflicts > 0, "the trials must include real conflicts");
}

/// Clean-up after a run (stray temp files, emptied directories) reaches
/// its directories beneath the root without following a link: a directory
/// swapped for a link, to outside or to elsewhere inside, is left alone,
/// and so is what it points at. The same calls on real directories do
/// clean up, so the refusal is the link's doing.
#[cfg(target_os = "linux")]
#[test]
fn clean_up_never_follows_a_directory_swapped_for_a_link() {
    use shipready::core::fsio::{remove_empty_dirs, sweep_temps, TEMP_PREFIX};
    let outside = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let stray = format!("{TEMP_PREFIX}killed-run");
    for d in [outside.path().join("empty"), root.join("real/empty")] {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.parent().unwrap().join(&stray), "half").unwrap();
    }
    // `deploy` once was a directory; now it is a link out of the tree, and
    // `inside` a link to a directory in it.
    std::os::unix::fs::symlink(outside.path(), root.join("deploy")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("inside")).unwrap();
    std::os::unix::fs::symlink("real", root.join("relative")).unwrap();
    let before_outside = tree(outside.path());
    let before = tree(root);

    let links = ["deploy", "inside", "relative"];
    assert_eq!(sweep_temps(root, links), 0);
    let dirs: Vec<String> = links
        .iter()
        .flat_map(|l| [format!("{l}/empty"), l.to_string()])
        .collect();
    remove_empty_dirs(root, &dirs);
    assert_eq!(
        tree(outside.path()),
        before_outside,
        "nothing outside touched"
    );
    assert_eq!(tree(root), before, "nothing reached through a link inside");
    for l in links {
        assert!(root.join(l).is_symlink(), "{l} is still a link");
    }

    // Reached directly, the same directory is cleaned up.
    assert_eq!(sweep_temps(root, ["real"]), 1);
    assert!(!root.join("real").join(&stray).exists());
    remove_empty_dirs(root, &["real/empty".to_string(), "real".to_string()]);
    assert!(!root.join("real").exists(), "{:?}", tree(root));
}
