//! Where a profile's answers come from, in precedence order:
//! built-in defaults < preset (or the lock's profile) < `--values` file < `--set`.
//! The interactive questionnaire (a terminal and no preset) gives a typed
//! layer that goes in above the preset.

use std::path::Path;

use crate::cli::AnswerArgs;
use crate::error::Error;
use crate::preset::Preset;
use crate::profile::{Layer, Profile};

/// Layers for a profile, lowest precedence first.
pub fn layers(base: Vec<Layer>, answers: &AnswerArgs) -> Result<Vec<Layer>, Error> {
    let mut out = base;
    if let Some(path) = &answers.values {
        out.push(values_file(path)?);
    }
    out.push(Layer::from_assignments(&answers.set)?);
    Ok(out)
}

pub fn values_file(path: &Path) -> Result<Layer, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Layer::from_toml(&text, &path.display().to_string())
}

/// The profile for `init`: preset (if any) + values + set.
pub fn resolve(preset: Option<&Preset>, answers: &AnswerArgs) -> Result<Profile, Error> {
    let base = preset.map(|p| vec![p.layer()]).unwrap_or_default();
    Profile::from_layers(&layers(base, answers)?)
}

/// The profile for `update`: the lock's profile + values + set.
pub fn resolve_from_lock(locked: &Profile, answers: &AnswerArgs) -> Result<Profile, Error> {
    let table = match toml::Value::try_from(locked).expect("a profile serialises") {
        toml::Value::Table(t) => t,
        _ => unreachable!("a profile serialises to a table"),
    };
    Profile::from_layers(&layers(vec![Layer { table }], answers)?)
}
