//! One module per subcommand. A command opens the project, asks the core
//! for a plan and acts on it or reports it; what two commands share lives in
//! `core`, never in another command.

pub mod audit;
pub mod completions;
pub mod detect;
pub mod diff;
pub mod init;
pub mod presets;
pub mod update;
pub mod verify;
