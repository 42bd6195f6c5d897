//! The interactive `init`, driven through a real pseudo-terminal: the
//! binary is spawned on a pty (stdin, stdout and stderr all terminals, CI
//! unset), so dialoguer and console run exactly as they do for a person.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rexpect::process::wait::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};
use shipready::core::lock::Lock;

const TIMEOUT_MS: u64 = 20_000;

fn fixture_copy(name: &str) -> tempfile::TempDir {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/detect")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&src, dir.path());
    // The fixture's own .env.example (read by the detection tests) differs
    // from the one init writes and would, rightly, stop init here.
    let _ = std::fs::remove_file(dir.path().join(".env.example"));
    dir
}

/// Every file under `dir` with its contents, sorted: "untouched" means equal.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `shipready init --dir DIR` on a pty, as a person would run it: no CI.
fn spawn(dir: &Path, strip_ansi: bool, extra: &[&str]) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipready"));
    cmd.arg("init").arg("--dir").arg(dir).args(extra);
    cmd.current_dir(dir)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm-256color");
    spawn_with_options(
        cmd,
        Options {
            timeout_ms: Some(TIMEOUT_MS),
            strip_ansi_escape_codes: strip_ansi,
        },
    )
    .expect("spawn shipready on a pty")
}

/// Wait for `prompt`, then type `keys` (a lone "\r" accepts the default).
fn answer(p: &mut PtySession, prompt: &str, keys: &str) {
    if let Err(e) = p.exp_string(prompt) {
        panic!("waiting for {prompt:?}: {e}");
    }
    // Let the prompt switch the terminal to raw mode before typing.
    std::thread::sleep(std::time::Duration::from_millis(60));
    p.send(keys).unwrap();
    p.flush().unwrap();
}

fn exit_code(p: &PtySession) -> i32 {
    match p.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

/// The questions for the twilio-voice fixture, in order, after the preset.
const TWILIO_QUESTIONS: &[&str] = &[
    "Service name",
    "Public domain",
    "Runtime",
    "Node.js major version",
    "Port the app listens on",
    "Start command",
    "Health check path",
    "Does it use PostgreSQL?",
    "Does it use Redis?",
    "What is Redis to it?",
    "Does it run a background worker?",
    "Worker library",
    "Worker command",
    "Voice provider",
    "Webhook path",
    "WebSocket path",
    "AWS region",
];

/// Answer every question with the default except those in `answers`.
fn run_through(p: &mut PtySession, answers: &[(&str, &str)]) {
    answer(p, "Start from a preset", "\r");
    let no_worker = answers.contains(&("Does it run a background worker?", "n"));
    for q in TWILIO_QUESTIONS {
        if no_worker && (*q == "Worker library" || *q == "Worker command") {
            continue;
        }
        let keys = answers
            .iter()
            .find(|(k, _)| k == q)
            .map_or("\r", |(_, v)| *v);
        answer(p, q, keys);
    }
}

#[test]
fn accepting_the_detected_defaults_writes_the_detected_profile() {
    let dir = fixture_copy("twilio-voice");
    let mut p = spawn(dir.path(), true, &[]);
    // The evidence is shown before the first question.
    p.exp_string("Detected in").unwrap();
    // (The reader shows bytes as Latin-1, so match around the em dash.)
    p.exp_string("node 22 ").unwrap();
    p.exp_string(" engines.node in package.json").unwrap();
    p.exp_string(" twilio in dependencies of package.json")
        .unwrap();
    p.exp_string("Suggested preset: twilio-voice").unwrap();
    run_through(&mut p, &[("Public domain", "voice.example.com\r")]);
    // Summary and file list, then the confirmation.
    p.exp_string("Summary").unwrap();
    p.exp_string("voice-agent (node 22, port 3000)").unwrap();
    p.exp_string("create   compose.prod.yaml").unwrap();
    answer(&mut p, "Write ", "y");
    let rest = p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    // The file list is shown once, before the question, not again after it.
    assert!(!rest.contains("compose.prod.yaml"), "{rest}");
    assert!(rest.contains("Wrote "), "{rest}");

    let lock = Lock::read(dir.path())
        .unwrap()
        .expect("shipready.toml written");
    assert_eq!(lock.preset.as_deref(), Some("twilio-voice"));
    let prof = lock.profile;
    assert_eq!(prof.service.name, "voice-agent");
    assert_eq!(prof.edge.domain, "voice.example.com");
    assert_eq!(prof.service.runtime_version, "22");
    assert_eq!(prof.service.start_command, ["node", "dist/server.js"]);
    assert!(prof.postgres.enabled && prof.redis.enabled && prof.worker.enabled);
    assert_eq!(prof.worker.command, ["node", "dist/worker.js"]);
    // The preset's queues survive: detection does not know them.
    assert_eq!(prof.worker.queues, ["calls", "transcripts"]);
    assert_eq!(
        prof.voice.provider,
        shipready::profile::VoiceProvider::Twilio
    );
}

#[test]
fn a_changed_answer_is_the_one_written() {
    let dir = fixture_copy("twilio-voice");
    let mut p = spawn(dir.path(), true, &[]);
    run_through(
        &mut p,
        &[
            ("Service name", "call-router\r"),
            ("Public domain", "calls.example.org\r"),
            ("Port the app listens on", "8080\r"),
            ("Does it run a background worker?", "n"),
            ("AWS region", "eu-west-2\r"),
        ],
    );
    p.exp_string("call-router (node 22, port 8080)").unwrap();
    answer(&mut p, "Write ", "y");
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    let prof = Lock::read(dir.path()).unwrap().unwrap().profile;
    assert_eq!(prof.service.name, "call-router");
    assert_eq!(prof.edge.domain, "calls.example.org");
    assert_eq!(prof.service.port, 8080);
    assert!(!prof.worker.enabled);
    assert_eq!(prof.aws.region, "eu-west-2");
}

#[test]
fn an_invalid_answer_is_re_asked_with_the_rule() {
    let dir = fixture_copy("twilio-voice");
    let mut p = spawn(dir.path(), true, &[]);
    answer(&mut p, "Start from a preset", "\r");
    answer(&mut p, "Service name", "Voice Agent!\r");
    p.exp_string("2 to 32 lowercase letters").unwrap();
    // Asked again (with an empty line): a valid answer moves on.
    answer(&mut p, "Service name", "voice-agent\r");
    // No answer where there is no default: said so, not silently re-asked.
    answer(&mut p, "Public domain", "\r");
    p.exp_string("an answer is needed here").unwrap();
    answer(&mut p, "Public domain", "a.com;rm -rf /\r");
    p.exp_string("a DNS name such as voice.example.com")
        .unwrap();
    answer(&mut p, "Public domain", "voice.example.com\r");
    answer(&mut p, "Runtime", "\r");
    answer(&mut p, "Node.js major version", "\r");
    answer(&mut p, "Port the app listens on", "80\r");
    p.exp_string("a port from 1024 to 65535").unwrap();
    answer(&mut p, "Port the app listens on", "3001\r");
    for q in &TWILIO_QUESTIONS[5..] {
        answer(&mut p, q, "\r");
    }
    answer(&mut p, "Write ", "y");
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    let prof = Lock::read(dir.path()).unwrap().unwrap().profile;
    assert_eq!(prof.service.name, "voice-agent");
    assert_eq!(prof.edge.domain, "voice.example.com");
    assert_eq!(prof.service.port, 3001);
}

#[test]
fn ctrl_c_writes_nothing_restores_the_cursor_and_exits_non_zero() {
    // At a Select (which hides the cursor), a text prompt and the final
    // confirmation.
    for at in ["Start from a preset", "Public domain", "Write "] {
        let dir = fixture_copy("twilio-voice");
        let before_files = snapshot(dir.path());
        let mut p = spawn(dir.path(), false, &[]);
        match at {
            "Public domain" => {
                answer(&mut p, "Start from a preset", "\r");
                answer(&mut p, "Service name", "\r");
            }
            "Write " => run_through(&mut p, &[("Public domain", "voice.example.com\r")]),
            _ => {}
        }
        // Waiting for the Write prompt itself is done by `answer` above for
        // the others; here wait for the prompt we interrupt.
        p.exp_string(at).unwrap_or_else(|e| panic!("{at}: {e}"));
        std::thread::sleep(std::time::Duration::from_millis(60));
        p.send_control('c').unwrap();
        let rest = p.exp_eof().unwrap();
        let code = exit_code(&p);
        assert_eq!(
            code, 130,
            "Ctrl-C at {at:?} exits 130, as shells report SIGINT"
        );
        assert!(
            rest.contains("\u{1b}[?25h"),
            "Ctrl-C at {at:?} left the cursor hidden: {rest:?}"
        );
        assert!(rest.contains("nothing was written"), "{at:?}: {rest:?}");
        assert_eq!(
            snapshot(dir.path()),
            before_files,
            "Ctrl-C at {at:?} changed the directory"
        );
    }
}

/// In a Node repository, picking FastAPI asks with Python's defaults: the
/// detected Node version and commands do not carry over into an invalid
/// profile (which once made the next question "Node.js major version",
/// with no default).
#[test]
fn picking_the_other_runtime_asks_with_its_defaults() {
    let dir = fixture_copy("twilio-voice");
    let mut p = spawn(dir.path(), true, &[]);
    answer(&mut p, "Start from a preset", "\r");
    answer(&mut p, "Service name", "\r");
    answer(&mut p, "Public domain", "voice.example.com\r");
    answer(&mut p, "Runtime", "\x1b[B\r"); // down to fastapi
    let type_keys = |p: &mut PtySession, keys: &str| {
        std::thread::sleep(std::time::Duration::from_millis(60));
        p.send(keys).unwrap();
        p.flush().unwrap();
    };
    let (before, _) = p
        .exp_regex("Python version[^\n]*3\\.12")
        .unwrap_or_else(|e| panic!("FastAPI's version question with its default 3.12: {e}"));
    assert!(!before.contains("Node.js major version"), "{before}");
    type_keys(&mut p, "\r");
    p.exp_regex("Port the app listens on[^\n]*8000")
        .expect("FastAPI's default port");
    type_keys(&mut p, "8080\r");
    p.exp_regex("Start command\\s*\\(uvicorn[^\\n]*--port 8080")
        .expect("FastAPI's default start command on the port given, not node's");
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 130);
}

#[test]
fn declining_the_confirmation_writes_nothing() {
    let dir = fixture_copy("twilio-voice");
    let before = snapshot(dir.path());
    let mut p = spawn(dir.path(), true, &[]);
    run_through(&mut p, &[("Public domain", "voice.example.com\r")]);
    answer(&mut p, "Write ", "n");
    let rest = p.exp_eof().unwrap();
    // Saying no is an answer, not an error: exit 0, nothing written.
    assert_eq!(exit_code(&p), 0, "{rest}");
    assert!(rest.contains("Nothing written."), "{rest}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn ci_set_never_prompts_even_on_a_terminal() {
    let dir = fixture_copy("twilio-voice");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipready"));
    cmd.args(["init", "--dir"])
        .arg(dir.path())
        .env("CI", "true")
        .env("NO_COLOR", "1");
    let mut p = spawn_with_options(
        cmd,
        Options {
            timeout_ms: Some(TIMEOUT_MS),
            strip_ansi_escape_codes: true,
        },
    )
    .unwrap();
    let out = p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 2, "{out}");
    assert!(out.contains("edge.domain"), "{out}");
    assert!(!out.contains("Start from a preset"), "{out}");
}

/// A tmux server on its own socket in a temp dir, killed when dropped, with
/// one window of a chosen size running one command.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(columns: u16, rows: u16, command: &str) -> Tmux {
        let tmux = common::require_tool("tmux");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let t = Tmux { socket, _dir: dir };
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
            command,
        ]);
        // The window follows the size given, not an attached client's.
        t.run(&["set-option", "-g", "window-size", "manual"]);
        t.run(&[
            "resize-window",
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
        ]);
        assert!(tmux.exists());
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(common::require_tool("tmux"))
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// The screen as lines, rows the terminal wrapped joined again, trailing
    /// blanks dropped: what was written, whatever the width.
    fn lines(&self) -> Vec<String> {
        let screen = self.run(&["capture-pane", "-p", "-J"]);
        let mut lines: Vec<String> = screen.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    /// Type `text` at once, as a paste would.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
        std::thread::sleep(std::time::Duration::from_millis(80));
    }

    /// Wait until the screen shows `text`; the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(TIMEOUT_MS);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waiting for {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", k]);
            // One redraw per key, as a person pressing them would see.
            std::thread::sleep(std::time::Duration::from_millis(80));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// A narrow terminal: preset labels longer than the width are cut to it
/// with an ellipsis before dialoguer draws them, so moving the selection
/// redraws them in place. Labels that wrapped would leave their second rows
/// on screen, once per redraw.
#[test]
fn a_narrow_terminal_keeps_the_preset_menu_in_place() {
    let presets = shipready::preset::Preset::all();
    let mut labels =
        vec!["none: start from the detected answers and built-in defaults".to_string()];
    labels.extend(
        presets
            .iter()
            .map(|p| format!("{}: {}", p.name, p.description)),
    );
    let bin = env!("CARGO_BIN_EXE_shipready");
    for columns in [40u16, 20] {
        let dir = fixture_copy("twilio-voice");
        let command = format!(
            "cd '{}' && env -u CI NO_COLOR=1 TERM=xterm-256color '{bin}' init --dir . ; sleep 60",
            dir.path().display()
        );
        let t = Tmux::start(columns, 40, &command);
        t.wait_for("none:");
        t.keys(&[
            "Down", "Down", "Up", "Down", "Down", "Down", "Up", "Up", "Down",
        ]);
        let screen = t.screen();
        let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
        // No row holds more than the terminal does.
        for l in &lines {
            assert!(
                l.chars().count() <= usize::from(columns),
                "{columns} columns: a row wider than the terminal: {l:?}\n{screen}"
            );
        }
        // No line twice: a stale row from an earlier redraw would repeat.
        let mut seen = std::collections::BTreeSet::new();
        for l in lines.iter().filter(|l| !l.is_empty()) {
            assert!(
                seen.insert(*l),
                "{columns} columns: {l:?} is on screen twice:\n{screen}"
            );
        }
        // Below the prompt, exactly one row per label: each the label whole
        // or cut with an ellipsis, in order, with the marker on one of them.
        let prompt = lines
            .iter()
            .rposition(|l| l.starts_with("? "))
            .unwrap_or_else(|| panic!("{columns} columns: no prompt on screen:\n{screen}"));
        let rows: Vec<&str> = lines[prompt + 1..]
            .iter()
            .copied()
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            rows.len(),
            labels.len(),
            "{columns} columns: one row per label and nothing else:\n{screen}"
        );
        for (row, label) in rows.iter().zip(&labels) {
            let shown = row
                .strip_prefix("❯ ")
                .or_else(|| row.strip_prefix("  "))
                .unwrap_or_else(|| panic!("{columns} columns: not a menu row: {row:?}\n{screen}"));
            let whole = shown == label;
            let cut = shown
                .strip_suffix('…')
                .is_some_and(|head| !head.is_empty() && label.starts_with(head));
            assert!(
                whole || cut,
                "{columns} columns: {row:?} is neither {label:?} nor its start with an ellipsis\n{screen}"
            );
        }
        assert_eq!(
            rows.iter().filter(|r| r.starts_with("❯ ")).count(),
            1,
            "{columns} columns: one selected row\n{screen}"
        );
        t.keys(&["C-c"]);
    }
}

/// A refused answer in a narrow terminal: the rule (longer than a row) is
/// shown in rows dialoguer knows about, so once a valid answer is given
/// neither the rule nor the refused answer's prompt is left on screen.
#[test]
fn a_narrow_terminal_leaves_no_rows_behind_after_a_refused_answer() {
    let bin = env!("CARGO_BIN_EXE_shipready");
    let dir = fixture_copy("twilio-voice");
    let command = format!(
        "cd '{}' && env -u CI NO_COLOR=1 TERM=xterm-256color '{bin}' init --dir . ; sleep 60",
        dir.path().display()
    );
    let t = Tmux::start(40, 40, &command);
    t.wait_for("none:");
    t.keys(&["Enter"]);
    t.wait_for("? Serv");
    t.keys(&["Enter"]);
    t.wait_for("? Public");
    t.keys(&["bad!", "Enter"]);
    let refused = t.wait_for("✘ expected a DNS name");
    assert!(
        refused.lines().filter(|l| !l.is_empty()).count() > 0
            && refused.lines().all(|l| l.chars().count() <= 40),
        "{refused}"
    );
    t.keys(&["a.example.com", "Enter"]);
    let screen = t.wait_for("? Runtime");
    let rows: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let answered = rows
        .iter()
        .position(|l| l.starts_with("✔ Public") && l.ends_with("· a.example.com"))
        .unwrap_or_else(|| panic!("no answered domain row:\n{screen}"));
    // The whole question above its row, then nothing until the next one.
    assert!(
        rows[answered - 1].starts_with("Public domain (e.g. voice.example.com)"),
        "{screen}"
    );
    for row in &rows {
        assert!(
            !row.starts_with("✘") && !row.contains("dot-separated") && !row.contains("bad!"),
            "a row left from the refused answer: {row:?}\n{screen}"
        );
    }
    t.keys(&["C-c"]);
}

/// A valid domain (46 characters, the most nginx takes by default) that
/// with its question is longer than a 40-column row.
const LONG_DOMAIN: &str = "a-long-subdomain.for-call-router.example.co.uk";

/// An answer longer than the row, typed in a narrow terminal, wraps onto a
/// second row; once given (after a refused one as long), the screen holds
/// the question and the whole answer on one line, and no row of the typing.
#[test]
fn a_long_answer_in_a_narrow_terminal_leaves_no_rows_behind() {
    let bin = env!("CARGO_BIN_EXE_shipready");
    let dir = fixture_copy("twilio-voice");
    let command = format!(
        "cd '{}' && env -u CI NO_COLOR=1 TERM=xterm-256color '{bin}' init --dir . ; sleep 60",
        dir.path().display()
    );
    let t = Tmux::start(40, 40, &command);
    t.wait_for("none:");
    t.keys(&["Enter"]);
    t.wait_for("? Serv");
    t.keys(&["Enter"]);
    t.wait_for("? Public");
    // Refused (a DNS label is at most 63 characters, none of them "!"), and
    // as long as the valid one.
    t.type_text(&LONG_DOMAIN.replace('.', "!"));
    let typing = t.wait_for("co!uk");
    assert!(
        typing
            .lines()
            .any(|l| l.starts_with("? Public") && l.chars().count() == 40),
        "the answer did not wrap, so this shows nothing:\n{typing}"
    );
    t.keys(&["Enter"]);
    t.wait_for("✘ expected a DNS name");
    t.type_text(LONG_DOMAIN);
    t.wait_for("example.co.uk");
    t.keys(&["Enter"]);
    let screen = t.wait_for("? Runtime");
    // Row by row, as drawn: no row of either typed answer is left.
    for row in screen.lines() {
        assert!(
            !row.starts_with("? Public") && !row.starts_with("✘") && !row.contains("co!uk"),
            "a row left from the typing: {row:?}\n{screen}"
        );
    }
    // Line by line (wrapped rows joined): the whole question, the answered
    // line with the whole answer, then the next question and nothing else.
    let lines = t.lines();
    let answered = lines
        .iter()
        .position(|l| l.starts_with("✔ Public"))
        .unwrap_or_else(|| panic!("no answered domain line:\n{}", lines.join("\n")));
    assert_eq!(
        lines[answered - 1..],
        [
            "Public domain (e.g. voice.example.com)",
            format!("✔ Public domain (e.g. v… · {LONG_DOMAIN}").as_str(),
            "? Runtime ›",
            "❯ node",
            "  fastapi"
        ],
        "{}",
        lines.join("\n")
    );
    t.keys(&["C-c"]);
}
