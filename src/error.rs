//! One error type for the whole tool. Each message says what went wrong and
//! what to run next; `main` maps each variant to a documented exit code.

use std::fmt;
use std::path::PathBuf;

/// Exit codes, the same for every command (see `shipready --help`).
pub mod exit {
    /// Success, nothing differs.
    pub const OK: i32 = 0;
    /// Drift found, findings, or conflicts that need a person.
    pub const FINDINGS: i32 = 1;
    /// Usage, input or template error; nothing was written.
    pub const ERROR: i32 = 2;
    /// Interrupted (Ctrl-C); nothing was written. 128 + SIGINT, as shells do.
    pub const INTERRUPTED: i32 = 130;
}

/// A profile field that is missing or holds a value that is not accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub key: String,
    pub value: String,
    pub rule: String,
}

impl FieldError {
    pub fn missing(key: String) -> FieldError {
        FieldError {
            key,
            value: String::new(),
            rule: "missing: this answer has no default".into(),
        }
    }
    pub fn invalid(key: &str, value: &str, rule: &str) -> FieldError {
        FieldError {
            key: key.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }
    pub fn parse(key: &str, message: &str) -> FieldError {
        FieldError {
            key: if key.is_empty() || key == "." {
                "profile".into()
            } else {
                key.into()
            },
            value: String::new(),
            rule: message.trim().into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.key, self.rule)
        } else {
            // {:?} shows control characters and quotes in the bad value plainly.
            write!(f, "{} = {:?}: expected {}", self.key, self.value, self.rule)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("{what}: {message}")]
    Input { what: String, message: String },

    #[error("{}", profile_message(.0))]
    Profile(Vec<FieldError>),

    #[error("unknown preset '{0}'. Run `shipready presets` to list the presets.")]
    UnknownPreset(String),

    #[error(
        "template {template}: {message}\nThis is a bug in shipready's templates; please report it."
    )]
    Template { template: String, message: String },

    #[error("{}", refused_message(.0))]
    WouldOverwrite(Vec<PathBuf>),

    #[error("refusing to write {path}: {reason}")]
    UnsafePath { path: PathBuf, reason: String },

    #[error("no lock file in {0}. Run `shipready init` there first.")]
    NoLock(PathBuf),

    #[error("{path}: {message}")]
    Lock { path: PathBuf, message: String },

    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("interrupted; nothing was written")]
    Interrupted,

    #[error(
        "not enough space in {}: the run needs {} KiB and {} KiB are free. Nothing was written; \
         free some space and run again.",
        .dir.display(), .need / 1024, .free / 1024
    )]
    NoSpace { dir: PathBuf, need: u64, free: u64 },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            // The disk holds work of the team's that a person must look at.
            Error::WouldOverwrite(_) => exit::FINDINGS,
            Error::Interrupted => exit::INTERRUPTED,
            _ => exit::ERROR,
        }
    }
}

fn profile_message(errors: &[FieldError]) -> String {
    let missing: Vec<&FieldError> = errors
        .iter()
        .filter(|e| e.value.is_empty() && e.rule.starts_with("missing"))
        .collect();
    let mut out = String::from("the profile is not valid:\n");
    for e in errors {
        out.push_str(&format!("  - {e}\n"));
    }
    if !missing.is_empty() {
        let example: Vec<String> = missing
            .iter()
            .map(|e| format!("--set {}=...", e.key))
            .collect();
        out.push_str(&format!(
            "Give the missing answers with {} (or in a --values file).",
            example.join(" ")
        ));
    } else {
        out.push_str(
            "Fix the values above (with --set key=value or in a --values file) and run again.",
        );
    }
    out
}

fn refused_message(paths: &[PathBuf]) -> String {
    let mut out = String::from("these files exist and differ from what shipready would write:\n");
    for p in paths {
        out.push_str(&format!("  - {}\n", p.display()));
    }
    out.push_str(
        "Nothing was written. Move them aside, or run again with --force to replace them \
         (--force keeps your versions under .shipready/backup/ and says how to bring them back).",
    );
    out
}
