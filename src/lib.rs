//! shipready: production infrastructure for a small team's web service.
//!
//! Data flows one way: answers → [`profile::Profile`] → [`render`] →
//! [`plan::Plan`] → apply (init, update) or report (diff, verify). Each
//! subcommand is its own module; `main.rs` only maps errors to exit codes.

pub mod answers;
pub mod apply;
// Encoding runs in build.rs (which compiles this file too) and in tests.
#[cfg_attr(not(test), allow(dead_code))]
mod ast_codec;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod completions;
pub mod detect;
pub mod diff;
pub mod error;
pub mod fsio;
pub mod images;
pub mod init;
pub mod interactive;
pub mod lock;
pub mod merge;
pub mod parallel;
pub mod plan;
pub mod preset;
pub mod presets_cmd;
pub mod profile;
pub mod render;
pub mod templates;
pub mod ui;
pub mod update;
pub mod verify;

use cli::{Cli, Command};
use error::Error;

/// Run a parsed command line; the exit code on success.
pub fn run(cli: &Cli) -> Result<i32, Error> {
    match &cli.command {
        Command::Init(a) => init::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Update(a) => update::run(a),
        Command::Presets(a) => presets_cmd::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Detect(a) => detect::command::run(a),
        Command::Completions(a) => completions::run(a),
    }
}
