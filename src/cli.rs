//! Command-line arguments, and nothing else: clap types live here and are
//! turned into validated domain values by the command modules.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The exit codes, as `error::exit` defines them; the README's table is
/// checked against this text by a test.
macro_rules! exit_codes {
    () => {
        "Exit codes (every command):
  0    success; nothing differs (also: you answered no at init's question)
  1    drift found, audit findings, or conflicts a person must resolve
  2    usage, input or template error; nothing was written
  130  interrupted (Ctrl-C); nothing was written
"
    };
}

pub const EXIT_CODES: &str = exit_codes!();

const AFTER_HELP: &str = concat!(
    exit_codes!(),
    "
Without a terminal (or with CI set) shipready never prompts: a missing answer
is an error that lists every missing key. Colour is used only on a terminal
and never when NO_COLOR is set."
);

#[derive(Debug, Parser)]
#[command(
    name = "shipready",
    version,
    about = "Production infrastructure for a small team's web service, in one command",
    long_about = "shipready renders the production infrastructure a small web service needs \
(Dockerfiles, compose stacks, an nginx TLS edge, Redis config, Terraform for AWS, GitHub Actions, \
Prometheus alerts, backup scripts) from versioned templates, records what it wrote in shipready.toml, \
and keeps those files current afterwards: `diff` shows drift, `update` merges template changes with \
the team's own edits.",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the infrastructure for a service and write it, with shipready.toml
    #[command(
        after_help = "Examples:\n  shipready init                      # asks questions on a terminal\n  shipready init --preset twilio-voice --set domain=voice.example.com\n  shipready init --preset fastapi-three-tier --values answers.toml --dry-run"
    )]
    Init(InitArgs),
    /// Show how the files on disk differ from a fresh render
    Diff(DiffArgs),
    /// Bring template or profile changes in, merging the team's own edits
    Update(UpdateArgs),
    /// List the presets, or show one
    Presets(PresetsArgs),
    /// Run the real validators found on PATH over the generated files
    Verify(VerifyArgs),
    /// Score an existing repository against the production-readiness checklist;
    /// exits 1 on any gap unless --exit-zero
    Audit(AuditArgs),
    /// Show what init would propose for a repository (preset, answers, evidence); writes nothing
    Detect(DetectArgs),
    /// Print shell completions (bash, zsh, fish) or the man page
    Completions(CompletionsArgs),
}

/// Where the answers come from: shared by init and update.
#[derive(Debug, Args, Clone, Default)]
pub struct AnswerArgs {
    /// Set one answer, e.g. `--set domain=voice.example.com` or
    /// `--set redis.enabled=true` (repeatable; dotted keys; wins over --values)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Read answers from a TOML file (wins over the preset)
    #[arg(long, value_name = "FILE")]
    pub values: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Start from a preset (see `shipready presets`)
    #[arg(long, short, value_parser = preset_names())]
    pub preset: Option<String>,
    #[command(flatten)]
    pub answers: AnswerArgs,
    /// Directory to write into
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Print what would be written; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace existing files that differ from the render
    #[arg(long)]
    pub force: bool,
    /// Accept detected defaults and skip the confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// Use templates from DIR laid over the built-in ones
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Directory holding shipready.toml
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// One line per file instead of the full diff
    #[arg(long)]
    pub stat: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Use templates from DIR laid over the built-in ones
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Limit the diff to these paths
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Directory holding shipready.toml
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub answers: AnswerArgs,
    /// Print what would change; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Use templates from DIR laid over the built-in ones
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PresetsArgs {
    #[command(subcommand)]
    pub action: Option<PresetsAction>,
}

#[derive(Debug, Subcommand)]
pub enum PresetsAction {
    /// Print a preset's TOML
    Show {
        /// Preset name
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Directory holding shipready.toml
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Also fail when a validator a file needs is not installed
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Repository to audit
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 1 when the score (0-100) is below N (even with --exit-zero)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_score: u8,
    /// Exit 0 although checks found gaps (by default any gap exits 1);
    /// --min-score still applies
    #[arg(long)]
    pub exit_zero: bool,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Repository to read
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CompletionTarget {
    Bash,
    Zsh,
    Fish,
    /// The man page (roff), for `man -l -`
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell, or `man` for the man page
    #[arg(value_enum)]
    pub target: CompletionTarget,
    /// With `man`: write shipready.1 and one page per subcommand
    /// (shipready-init.1, ...) into DIR instead of printing the main page
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The preset names, so shells complete them and a typo gets a suggestion.
fn preset_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        crate::preset::Preset::all()
            .into_iter()
            .map(|p| clap::builder::PossibleValue::new(p.name)),
    )
}
