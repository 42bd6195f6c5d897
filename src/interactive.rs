//! The interactive questionnaire for `init` on a terminal without a preset.
//!
//! It detects the stack (src/detect.rs) and shows the evidence, offers the
//! closest preset as the starting point, then asks each question with the
//! detected (or preset, or built-in) value as its default. Every answer is
//! checked as it is typed by the profile's own rules: the partial answers go
//! through [`Profile::from_layers`] and the field errors for that key are
//! shown, so the questionnaire can never accept what `--set` would refuse.
//! It ends with a summary of the answers and returns them: `init` then
//! plans once, lists the files and asks to confirm ([`confirm`]). Ctrl-C at
//! any prompt writes nothing, shows the cursor again and exits 130.
//!
//! Resizing the terminal while a prompt is open is not handled: dialoguer
//! cannot redraw on a resize, so rows drawn at the old width may stay.

use std::path::Path;

use console::{measure_text_width, Term};
use dialoguer::theme::{ColorfulTheme, Theme};
use dialoguer::{Confirm, Input, Select};

use crate::answers;
use crate::cli::{AnswerArgs, InitArgs};
use crate::detect::{self, Detection};
use crate::error::{Error, FieldError};
use crate::preset::Preset;
use crate::profile::{Layer, Profile, Runtime, VoiceProvider};
use crate::ui;
use fit::{
    erase_wrapped_line, fit_items, fit_prompt, room, wrap, CONFIRM_FRAME, ERROR_FRAME, SELECT_FRAME,
};
use toml::Value;

mod fit;

/// What the questionnaire decided: a preset to start from (if any) and a
/// typed layer of the detected and typed answers, which goes above the
/// preset and below `--values` and `--set` (keys those give are never
/// asked, so nothing here is overridden by them).
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub preset: Option<String>,
    pub layer: Layer,
}

impl Answers {
    /// The profile these answers give with the command line's `given` on
    /// top: the one `init` writes.
    pub fn profile(&self, given: &AnswerArgs) -> Result<Profile, Error> {
        let preset = self.preset.as_deref().map(Preset::find).transpose()?;
        let mut base: Vec<Layer> = preset.iter().map(Preset::layer).collect();
        base.push(self.layer.clone());
        Profile::from_layers(&answers::layers(base, given)?)
    }
}

struct Session {
    term: Term,
    theme: ColorfulTheme,
    preset: Option<Preset>,
    values: Option<Layer>,
    /// The command line's `--set` answers.
    given: Layer,
    /// Detected answers not overridden by --values or --set, each replaced
    /// by the answer typed for its key.
    answers: Layer,
}

impl Session {
    fn given_key(&self, key: &str) -> bool {
        self.given.get(key).is_some() || self.values.as_ref().is_some_and(|v| v.get(key).is_some())
    }

    /// Layers, lowest first, with `extra` on top.
    fn layers(&self, extra: Option<Layer>) -> Vec<Layer> {
        // Placeholders at the lowest precedence, so that defaults can be
        // computed before the required answers are given.
        let mut layers = vec![detect::command::placeholders()];
        layers.extend(self.preset.as_ref().map(Preset::layer));
        layers.extend(self.values.iter().cloned());
        layers.push(self.answers.clone());
        layers.push(self.given.clone());
        layers.extend(extra);
        layers
    }

    /// The profile the answers so far give, placeholders filling the gaps.
    /// After the other runtime is picked, what the preset or detection said
    /// for the first one (Node 22, `node dist/server.js`) describes neither
    /// this app nor a valid profile. Empty values make the profile fill in
    /// the new runtime's defaults (the start command then follows the port
    /// typed next); the port is set, as any layer's port counts as chosen.
    /// Keys --set or --values gave stay as given.
    fn runtime_defaults(&mut self, runtime: &str) -> Result<(), Error> {
        let fresh = Profile::from_layers(&[
            detect::command::placeholders(),
            Layer::default().with("service.runtime", runtime),
        ])?;
        let port = i64::from(fresh.service.port);
        let defaults: [(&str, Value); 5] = [
            ("service.runtime_version", text("")),
            ("service.port", Value::Integer(port)),
            ("service.start_command", Value::Array(Vec::new())),
            ("worker.command", Value::Array(Vec::new())),
            ("postgres.migrate_command", Value::Array(Vec::new())),
        ];
        for (key, value) in defaults {
            if !self.given_key(key) {
                self.answers.set(key, value)?;
            }
        }
        Ok(())
    }

    fn current(&self) -> Option<Profile> {
        Profile::from_layers(&self.layers(None)).ok()
    }

    /// The profile's verdict on one more answer, `key` = `value`: the
    /// messages for the fields that `watch` names (prefixes), or Ok.
    fn check(&self, key: &str, value: &Value, watch: &[&str]) -> Result<(), String> {
        let mut answer = Layer::default();
        answer.set(key, value.clone()).map_err(|e| e.to_string())?;
        let layers = self.layers(Some(answer));
        match Profile::from_layers(&layers) {
            Ok(_) => Ok(()),
            Err(Error::Profile(errors)) => {
                let relevant: Vec<&FieldError> = errors
                    .iter()
                    .filter(|e| {
                        e.key == "profile"
                            || watch.iter().any(|w| {
                                e.key == *w
                                    || e.key.starts_with(&format!("{w}["))
                                    || (w.ends_with('.') && e.key.starts_with(w))
                            })
                    })
                    .collect();
                if relevant.is_empty() {
                    Ok(())
                } else {
                    Err(relevant
                        .iter()
                        .map(|e| match e.rule.strip_prefix("missing: ") {
                            Some(_) => "an answer is needed here".to_string(),
                            None => format!("expected {}", e.rule),
                        })
                        .collect::<Vec<_>>()
                        .join("; "))
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Ask for a text answer, re-asking with the rule until it is accepted.
    fn text(
        &mut self,
        key: &str,
        prompt: &str,
        default: Option<String>,
        typed: fn(&str) -> Value,
        allow_empty: bool,
    ) -> Result<(), Error> {
        if self.given_key(key) {
            return Ok(());
        }
        let answer: Reply = {
            let this = &*self;
            let default = default.filter(|d| !d.is_empty() || allow_empty);
            // "? PROMPT (DEFAULT) › " or "? PROMPT › ", and room to type, so
            // that a short answer stays on the prompt's row.
            let frame = default.as_ref().map_or(5, |d| d.len() + 8);
            let typing = usize::from(this.term.size().1) / 4;
            let error_room = room(&this.term, ERROR_FRAME);
            let prompt = this.fit_prompt(prompt, frame + typing);
            // The prompt's columns as dialoguer measures them: the same theme
            // call it makes.
            let mut drawn = String::new();
            let _ = this
                .theme
                .format_input_prompt(&mut drawn, &prompt, default.as_deref());
            let prompt_width = measure_text_width(&drawn);
            // Empty answers reach the validator (allow_empty), so one with no
            // default is refused with a message, not silently re-asked.
            let mut input = Input::<Reply>::with_theme(&this.theme)
                .with_prompt(prompt)
                .allow_empty(true)
                .validate_with(|v: &Reply| -> Result<(), String> {
                    // dialoguer 0.11 calls this on Enter, just after erasing
                    // the cursor's row and the rows it counted (its own
                    // newlines), before it draws the error or the answered
                    // line there: the rows a long answer wrapped onto above
                    // the cursor are still on screen, so erase them first.
                    let on_row = if v.typed { v.text.as_str() } else { "" };
                    erase_wrapped_line(&this.term, prompt_width + measure_text_width(on_row));
                    if v.text.trim().is_empty() && !allow_empty {
                        return Err(wrap("an answer is needed here", error_room));
                    }
                    this.check(key, &typed(v.text.trim()), &[key])
                        .map_err(|e| wrap(&e, error_room))
                });
            if let Some(text) = default {
                input = input.default(Reply { text, typed: false });
            }
            input
                .interact_text_on(&this.term)
                .map_err(|e| prompt_error(&this.term, e))?
        };
        checkpoint()?;
        self.answers.set(key, typed(answer.text.trim()))
    }

    /// Ask to pick one of `choices`; cross-field rules are checked after the
    /// pick and the question asked again with the message.
    fn choose(
        &mut self,
        key: &str,
        prompt: &str,
        choices: &[&str],
        default: &str,
        watch: &[&str],
    ) -> Result<String, Error> {
        if self.given_key(key) {
            return Ok(String::new());
        }
        let mut default = choices.iter().position(|c| *c == default).unwrap_or(0);
        let items = fit_items(&self.term, choices);
        loop {
            let i = Select::with_theme(&self.theme)
                .with_prompt(self.fit_prompt(prompt, SELECT_FRAME))
                .items(&items)
                .default(default)
                .interact_on(&self.term)
                .map_err(|e| prompt_error(&self.term, e))?;
            checkpoint()?;
            let value = choices[i];
            match self.check(key, &text(value), watch) {
                Ok(()) => {
                    self.answers.set(key, value)?;
                    return Ok(value.to_string());
                }
                Err(msg) => {
                    self.say(&format!("✘ {value}: {msg}"));
                    default = i;
                }
            }
        }
    }

    fn yes_no(
        &mut self,
        key: &str,
        prompt: &str,
        default: bool,
        watch: &[&str],
    ) -> Result<bool, Error> {
        if self.given_key(key) {
            return Ok(self.current().is_some_and(|p| flag(&p, key)));
        }
        let mut default = default;
        loop {
            let v = Confirm::with_theme(&self.theme)
                .with_prompt(self.fit_prompt(prompt, CONFIRM_FRAME))
                .default(default)
                .interact_on(&self.term)
                .map_err(|e| prompt_error(&self.term, e))?;
            checkpoint()?;
            match self.check(key, &Value::Boolean(v), watch) {
                Ok(()) => {
                    self.answers.set(key, v)?;
                    return Ok(v);
                }
                Err(msg) => {
                    self.say(&format!("✘ {}: {msg}", if v { "yes" } else { "no" }));
                    default = !v;
                }
            }
        }
    }

    fn fit_prompt(&self, prompt: &str, frame: usize) -> String {
        fit_prompt(&self.term, prompt, frame)
    }

    fn say(&self, line: &str) {
        // The terminal is gone if this fails; the next prompt reports it.
        let _ = self.term.write_line(line);
    }
}

/// A text answer and whether it was typed: on Enter at an empty line
/// dialoguer hands the validator its default, which is not on the prompt's
/// rows as typed text is.
#[derive(Clone)]
struct Reply {
    text: String,
    typed: bool,
}

impl std::str::FromStr for Reply {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Reply {
            text: text.to_string(),
            typed: true,
        })
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn flag(p: &Profile, key: &str) -> bool {
    match key {
        "postgres.enabled" => p.postgres.enabled,
        "redis.enabled" => p.redis.enabled,
        "worker.enabled" => p.worker.enabled,
        _ => false,
    }
}

/// Ctrl-C (console reports it as `Interrupted`) writes nothing; the cursor
/// a Select hid is shown again either way.
fn prompt_error(term: &Term, e: dialoguer::Error) -> Error {
    let _ = term.show_cursor();
    let dialoguer::Error::IO(io) = e;
    if io.kind() == std::io::ErrorKind::Interrupted {
        let _ = term.write_line("");
        Error::Interrupted
    } else {
        Error::io("terminal", io)
    }
}

/// A Ctrl-C between prompts (the terminal in cooked mode) only set the flag.
fn checkpoint() -> Result<(), Error> {
    if sigint::hit() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// A typed answer as the text it is.
fn text(v: &str) -> Value {
    Value::String(v.to_string())
}

/// A port typed: a number stays a number; anything else goes in as text and
/// the profile rejects it with its own message.
fn port(v: &str) -> Value {
    match v.parse::<i64>() {
        Ok(n) if v.len() <= 5 && v.bytes().all(|b| b.is_ascii_digit()) => Value::Integer(n),
        _ => text(v),
    }
}

/// A command typed as words separated by spaces.
fn words(v: &str) -> Value {
    Value::Array(v.split_whitespace().map(text).collect())
}

/// Ask the questions not answered on the command line.
pub fn questionnaire(args: &InitArgs) -> Result<Answers, Error> {
    let guard = sigint::catch();
    let mut result = ask(args);
    if sigint::hit() {
        result = Err(Error::Interrupted);
    }
    // From here on Ctrl-C ends the process as usual.
    drop(guard);
    if result.is_err() {
        let _ = Term::stderr().show_cursor();
    }
    result
}

/// console answers Ctrl-C in a prompt by raising SIGINT, which would kill
/// the process with the cursor still hidden. While the questions run, the
/// signal only sets a flag; the prompt then fails with `Interrupted` and
/// the flag is checked once more before anything is written.
#[cfg(unix)]
mod sigint {
    use std::sync::atomic::{AtomicBool, Ordering};

    static HIT: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_sigint(_: libc::c_int) {
        HIT.store(true, Ordering::SeqCst);
    }

    pub struct Guard(libc::sighandler_t);

    pub fn catch() -> Guard {
        let handler: extern "C" fn(libc::c_int) = on_sigint;
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        Guard(unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) })
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            // SAFETY: restores the disposition `catch` replaced.
            unsafe {
                libc::signal(libc::SIGINT, self.0);
            }
        }
    }

    pub fn hit() -> bool {
        HIT.load(Ordering::SeqCst)
    }
}

#[cfg(not(unix))]
mod sigint {
    pub struct Guard;
    pub fn catch() -> Guard {
        Guard
    }
    pub fn hit() -> bool {
        false
    }
}

fn ask(args: &InitArgs) -> Result<Answers, Error> {
    let given: &AnswerArgs = &args.answers;
    let detection = detect::detect(&args.dir);
    let term = Term::stderr();
    let values = given
        .values
        .as_deref()
        .map(answers::values_file)
        .transpose()?;
    let mut s = Session {
        term,
        theme: ColorfulTheme::default(),
        preset: None,
        values,
        given: Layer::from_assignments(&given.set)?,
        answers: Layer::default(),
    };
    show_detection(&s, &args.dir, &detection);

    // Detected answers join the defaults unless --values or --set gave the key;
    // one the profile would refuse (say node 16) is dropped, with a note.
    for a in detection.answers() {
        if s.given_key(a.key) {
            continue;
        }
        match s.check(a.key, &a.value, &[a.key]) {
            Ok(()) => s.answers.set(a.key, a.value)?,
            Err(msg) => s.say(&format!(
                "  (not using detected {}={}: {msg})",
                a.key, a.value
            )),
        }
    }

    // A preset as the starting point.
    let presets = Preset::all();
    let suggested = detection.suggested_preset();
    let mut items = vec!["none: start from the detected answers and built-in defaults".to_string()];
    items.extend(
        presets
            .iter()
            .map(|p| format!("{}: {}", p.name, p.description)),
    );
    let default = suggested
        .as_ref()
        .and_then(|(name, _)| presets.iter().position(|p| p.name == *name))
        .map_or(0, |i| i + 1);
    if let Some((name, why)) = &suggested {
        s.say(&ui::hint(&format!("Suggested preset: {name} ({why}).")));
    }
    let choice = Select::with_theme(&s.theme)
        .with_prompt(s.fit_prompt("Start from a preset", SELECT_FRAME))
        .items(&fit_items(&s.term, &items))
        .default(default)
        .interact_on(&s.term)
        .map_err(|e| prompt_error(&s.term, e))?;
    s.preset = (choice > 0).then(|| presets[choice - 1].clone());

    let cur = |s: &Session| s.current().unwrap_or_else(Profile::skeleton);
    let p = cur(&s);
    let name_default = (p.service.name != "service").then(|| p.service.name.clone());
    s.text("service.name", "Service name", name_default, text, false)?;
    s.text(
        "edge.domain",
        "Public domain (e.g. voice.example.com)",
        None,
        text,
        false,
    )?;

    let p = cur(&s);
    let before = p.service.runtime.to_string();
    let chosen = s.choose(
        "service.runtime",
        "Runtime",
        &["node", "fastapi"],
        &before,
        &["service.runtime"],
    )?;
    if !chosen.is_empty() && chosen != before {
        s.runtime_defaults(&chosen)?;
    }
    let p = cur(&s);
    let version_prompt = match p.service.runtime {
        Runtime::Node => "Node.js major version",
        Runtime::Fastapi => "Python version",
    };
    s.text(
        "service.runtime_version",
        version_prompt,
        Some(p.service.runtime_version.clone()),
        text,
        false,
    )?;
    let p = cur(&s);
    s.text(
        "service.port",
        "Port the app listens on",
        Some(p.service.port.to_string()),
        port,
        false,
    )?;
    let p = cur(&s);
    s.text(
        "service.start_command",
        "Start command",
        Some(p.service.start_command.join(" ")),
        words,
        false,
    )?;
    let p = cur(&s);
    s.text(
        "service.health_path",
        "Health check path",
        Some(p.service.health_path.clone()),
        text,
        false,
    )?;

    let p = cur(&s);
    s.yes_no(
        "postgres.enabled",
        "Does it use PostgreSQL?",
        p.postgres.enabled,
        &["postgres."],
    )?;
    let p = cur(&s);
    if s.yes_no(
        "redis.enabled",
        "Does it use Redis?",
        p.redis.enabled,
        &["redis.", "worker.enabled"],
    )? || s.given_key("redis.enabled") && cur(&s).redis.enabled
    {
        let p = cur(&s);
        s.choose(
            "redis.role",
            "What is Redis to it? (cache: evicts; queue/primary: persists, never evicts)",
            &["cache", "queue", "primary"],
            p.redis.role.as_str(),
            &["redis.role"],
        )?;
    }
    let p = cur(&s);
    if s.yes_no(
        "worker.enabled",
        "Does it run a background worker?",
        p.worker.enabled,
        &["worker.", "redis.role"],
    )? || s.given_key("worker.enabled") && cur(&s).worker.enabled
    {
        let p = cur(&s);
        let kinds: &[&str] = match p.service.runtime {
            Runtime::Node => &["bullmq", "bull"],
            Runtime::Fastapi => &["celery"],
        };
        s.choose(
            "worker.kind",
            "Worker library",
            kinds,
            p.worker.kind.as_str(),
            &["worker."],
        )?;
        let p = cur(&s);
        s.text(
            "worker.command",
            "Worker command",
            Some(p.worker.command.join(" ")),
            words,
            false,
        )?;
    }

    let p = cur(&s);
    let provider = s.choose(
        "voice.provider",
        "Voice provider",
        &["none", "twilio", "ringcentral"],
        p.voice.provider.as_str(),
        &["voice."],
    )?;
    let p = cur(&s);
    if provider == "twilio"
        || provider == "ringcentral"
        || (provider.is_empty() && p.voice.provider != VoiceProvider::None)
    {
        s.text(
            "voice.webhook_path",
            "Webhook path",
            Some(p.voice.webhook_path.clone()),
            text,
            false,
        )?;
    }
    let p = cur(&s);
    s.text(
        "voice.websocket_path",
        "WebSocket path (empty: none)",
        Some(p.voice.websocket_path.clone()),
        text,
        true,
    )?;
    let p = cur(&s);
    s.text(
        "aws.region",
        "AWS region",
        Some(p.aws.region.clone()),
        text,
        false,
    )?;

    // Summary; init then lists the files and asks to confirm.
    let answers = Answers {
        preset: s.preset.as_ref().map(|p| p.name.clone()),
        layer: s.answers.clone(),
    };
    show_summary(&s, &answers.profile(given)?);
    Ok(answers)
}

fn show_detection(s: &Session, dir: &Path, d: &Detection) {
    let evidence = d.evidence();
    if d.runtime.is_none() {
        s.say(&format!(
            "{} nothing that names a runtime in {} (package.json, pyproject.toml, requirements*.txt).",
            ui::heading("Detected:"),
            dir.display()
        ));
        for e in evidence {
            s.say(&format!("  {e}"));
        }
        return;
    }
    s.say(&format!(
        "{} in {}:",
        ui::heading("Detected"),
        dir.display()
    ));
    for e in evidence {
        s.say(&format!("  {e}"));
    }
    s.say(&ui::hint("These are defaults: change any answer below."));
}

/// Ask a yes/no question on the terminal (default yes). Ctrl-C is
/// `Interrupted`, which writes nothing and exits 130.
pub fn confirm(prompt: &str) -> Result<bool, Error> {
    let term = Term::stderr();
    let guard = sigint::catch();
    let answer = Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(fit_prompt(&term, prompt, CONFIRM_FRAME))
        .default(true)
        .interact_on(&term)
        .map_err(|e| prompt_error(&term, e));
    let interrupted = sigint::hit();
    drop(guard);
    if interrupted || answer.is_err() {
        let _ = term.show_cursor();
    }
    if interrupted {
        return Err(Error::Interrupted);
    }
    answer
}

fn show_summary(s: &Session, p: &Profile) {
    s.say("");
    s.say(&ui::heading("Summary"));
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut rows = vec![
        (
            "service",
            format!(
                "{} ({} {}, port {})",
                p.service.name, p.service.runtime, p.service.runtime_version, p.service.port
            ),
        ),
        ("start", p.service.start_command.join(" ")),
        ("domain", p.edge.domain.clone()),
        (
            "health",
            format!(
                "{} (ready: {})",
                p.service.health_path, p.service.ready_path
            ),
        ),
        (
            "postgres",
            if p.postgres.enabled {
                format!("yes, {} (db {})", p.postgres.version, p.postgres.database)
            } else {
                "no".into()
            },
        ),
        (
            "redis",
            if p.redis.enabled {
                format!("yes, {} as {}", p.redis.version, p.redis.role.as_str())
            } else {
                "no".into()
            },
        ),
        (
            "worker",
            if p.worker.enabled {
                format!("{}: {}", p.worker.kind.as_str(), p.worker.command.join(" "))
            } else {
                yes(false).into()
            },
        ),
        (
            "voice",
            match p.voice.provider {
                VoiceProvider::None => "none".into(),
                v => format!("{} at {}", v, p.voice.webhook_path),
            },
        ),
        (
            "websocket",
            if p.voice.websocket_path.is_empty() {
                "none".into()
            } else {
                p.voice.websocket_path.clone()
            },
        ),
        (
            "aws",
            format!(
                "{}, environments {}",
                p.aws.region,
                p.aws.environments.join(", ")
            ),
        ),
    ];
    for (k, v) in rows.drain(..) {
        s.say(&format!("  {k:<10} {v}"));
    }
}
