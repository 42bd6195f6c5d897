//! `shipready completions bash|zsh|fish|man`, generated from the clap definitions.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionTarget, CompletionsArgs};
use crate::error::{exit, Error};

pub fn run(args: &CompletionsArgs) -> Result<i32, Error> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout();
    match args.target {
        CompletionTarget::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "shipready", &mut out)
        }
        CompletionTarget::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "shipready", &mut out)
        }
        CompletionTarget::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "shipready", &mut out)
        }
        CompletionTarget::Man => clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| Error::io("stdout", e))?,
    }
    Ok(exit::OK)
}
