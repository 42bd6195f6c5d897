//! Tests that need no validator, server or cloud provider: the CLI, its
//! input checks, rendering and snapshots, drift, detect and audit, driven
//! through the real binary (plus git, bash, tmux, util-linux `script`, and
//! one `nginx -t`). `scripts/test.sh fast` runs only these.

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod audit;
mod cli;
mod completions;
mod detect;
mod drift;
mod interactive;
mod profile_input;
mod readme;
mod safety;
mod snapshots;
