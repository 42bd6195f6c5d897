//! `shipready update`: bring template and profile changes in.

use crate::cli::UpdateArgs;
use crate::error::Error;

pub fn run(_args: &UpdateArgs) -> Result<i32, Error> {
    Err(Error::Usage(
        "`shipready update` is not available in this build yet.".into(),
    ))
}
