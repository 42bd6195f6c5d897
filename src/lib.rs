//! shipready: production infrastructure for a small team's web service.
//!
//! Data flows one way: answers → [`profile::Profile`] → render → plan →
//! apply (init, update) or report (diff, verify). The folders say where each
//! concern lives: `commands/` holds one module per subcommand (arguments in,
//! exit code out), `core/` what they share (templates, catalog, render, plan,
//! lock, merge, apply, fsio), and `audit/`, `detect/` and `verify/` the
//! domain work of their commands, which never see the command line. `main.rs`
//! only maps errors to exit codes.

pub mod answers;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod core;
pub mod detect;
pub mod error;
pub mod images;
pub mod interactive;
pub mod preset;
pub mod profile;
pub mod ui;
pub mod verify;

use cli::{Cli, Command};
use commands as cmd;
use error::Error;

/// Run a parsed command line; the exit code on success. Every subcommand
/// is one module of `commands`.
pub fn run(cli: &Cli) -> Result<i32, Error> {
    match &cli.command {
        Command::Init(a) => cmd::init::run(a),
        Command::Diff(a) => cmd::diff::run(a),
        Command::Update(a) => cmd::update::run(a),
        Command::Presets(a) => cmd::presets::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Detect(a) => cmd::detect::run(a),
        Command::Completions(a) => cmd::completions::run(a),
    }
}
