//! `shipready audit [DIR]`: check the arguments, score the repository
//! (`audit::audit`), print the report and map it to an exit code.

use crate::audit::{audit, render_text};
use crate::cli::{AuditArgs, Format};
use crate::error::{exit, Error};

pub fn run(args: &AuditArgs) -> Result<i32, Error> {
    if !args.dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory. Give the repository to audit: `shipready audit DIR`.",
            args.dir.display()
        )));
    }
    if args.min_score > 100 {
        return Err(Error::Usage(format!(
            "--min-score takes 0 to 100, got {}",
            args.min_score
        )));
    }
    let report = audit(&args.dir)?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        ),
        Format::Text => print!("{}", render_text(&report)),
    }
    let below = report.score < u32::from(args.min_score);
    if below && args.format == Format::Text {
        println!(
            "Score {} is below --min-score {}.",
            report.score, args.min_score
        );
    }
    Ok(if below || (report.gaps > 0 && !args.exit_zero) {
        exit::FINDINGS
    } else {
        exit::OK
    })
}
