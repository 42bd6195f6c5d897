//! `shipready detect [DIR]`: check the directory, ask detection for its
//! proposal (`detect::command::Proposal`) and print it as text or JSON.
//! Writes nothing.

use crate::cli::{DetectArgs, Format};
use crate::detect::command::{render_text, Proposal};
use crate::error::{exit, Error};

pub fn run(args: &DetectArgs) -> Result<i32, Error> {
    if !args.dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory. Give the repository to read: `shipready detect DIR`.",
            args.dir.display()
        )));
    }
    let p = Proposal::for_dir(&args.dir);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&p).expect("a proposal serialises")
        ),
        Format::Text => print!("{}", render_text(&p)),
    }
    Ok(exit::OK)
}
