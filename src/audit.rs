//! `shipready audit`: readiness report for an existing repository.

use crate::cli::AuditArgs;
use crate::error::Error;

pub fn run(_args: &AuditArgs) -> Result<i32, Error> {
    Err(Error::Usage(
        "`shipready audit` is not available in this build yet.".into(),
    ))
}
