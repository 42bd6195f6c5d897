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
        // The main page names shipready-init(1) and the others: with
        // --out-dir every one of them is written beside it.
        CompletionTarget::Man => match &args.out_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                clap_mangen::generate_to(cmd, dir).map_err(|e| Error::io(dir, e))?;
                println!("Wrote the man pages to {}.", dir.display());
            }
            None => clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::io("stdout", e))?,
        },
    }
    if args.out_dir.is_some() && args.target != CompletionTarget::Man {
        return Err(Error::Usage(
            "--out-dir goes with `completions man` only".into(),
        ));
    }
    Ok(exit::OK)
}
