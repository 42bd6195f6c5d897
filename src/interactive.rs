//! The interactive questionnaire for `init` on a terminal without a preset.

use std::path::Path;

use crate::cli::AnswerArgs;
use crate::error::Error;

/// Ask for the answers not given on the command line; returns `--set`
/// style assignments (the given ones included).
pub fn questionnaire(_dir: &Path, given: &AnswerArgs) -> Result<Vec<String>, Error> {
    Ok(given.set.clone())
}
