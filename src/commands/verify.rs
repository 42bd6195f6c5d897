//! `shipready verify [DIR]`: read the lock, run the validators over the
//! generated files still on disk (`verify::check_with`, with progress on a
//! terminal), print the report (`verify::report`) and map it to an exit code.

use crate::cli::VerifyArgs;
use crate::core::lock::Lock;
use crate::error::{exit, Error};
use crate::ui;
use crate::verify::{check_with, report};

pub fn run(args: &VerifyArgs) -> Result<i32, Error> {
    let lock = Lock::read(&args.dir)?.ok_or_else(|| Error::NoLock(args.dir.clone()))?;
    let (paths, missing): (Vec<&str>, Vec<&str>) = lock
        .files
        .keys()
        .map(String::as_str)
        .partition(|p| args.dir.join(p).exists());

    let progress = ui::progress_bar("checking");
    let findings = check_with(
        &args.dir,
        &paths,
        &|n| progress.set_length(n as u64),
        &|f| {
            progress.set_message(format!("{} {}", f.validator, f.target));
            progress.inc(1);
        },
    );
    progress.finish_and_clear();

    let (text, failed) = report(&findings, &paths, &missing, args.strict);
    let code = if failed { exit::FINDINGS } else { exit::OK };
    // A reader that stops early (`| head`) ends the report quietly; the
    // exit code still says how the checks went.
    ui::write_stdout(&text).map_err(|e| Error::io("stdout", e))?;
    Ok(code)
}
