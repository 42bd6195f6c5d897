//! shipready: production infrastructure for a small team's web service.
//!
//! Data flows one way: answers → [`profile::Profile`] → render → plan →
//! apply (init, update) or report (diff, verify). The folders say where each
//! concern lives: `commands/` holds one module per subcommand, `core/` what
//! they share (templates, catalog, render, plan, lock, merge, apply, fsio),
//! and `audit/`, `detect/` and `verify/` their own larger worlds. `main.rs`
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
use commands::{completions, diff, init, presets, update};
use error::Error;

/// Run a parsed command line; the exit code on success.
pub fn run(cli: &Cli) -> Result<i32, Error> {
    match &cli.command {
        Command::Init(a) => init::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Update(a) => update::run(a),
        Command::Presets(a) => presets::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Detect(a) => detect::command::run(a),
        Command::Completions(a) => completions::run(a),
    }
}
