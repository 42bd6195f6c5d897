//! `shipready diff`: drift between the disk and a fresh render.

use crate::cli::DiffArgs;
use crate::error::Error;

pub fn run(_args: &DiffArgs) -> Result<i32, Error> {
    Err(Error::Usage(
        "`shipready diff` is not available in this build yet.".into(),
    ))
}
