//! Presets: named partial profiles for the reference systems, embedded from
//! `presets/*.toml`. Each file has a `[preset]` table (description, what the
//! service is) and then ordinary profile sections.

use include_dir::{include_dir, Dir};

use crate::error::Error;
use crate::profile::{closest, Layer};

static PRESETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/presets");

#[derive(Debug, Clone)]
pub struct Preset {
    pub name: String,
    pub description: String,
    /// The TOML source, as shipped.
    pub source: &'static str,
}

impl Preset {
    /// All presets, sorted by name.
    pub fn all() -> Vec<Preset> {
        let mut out: Vec<Preset> = PRESETS
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
            .map(|f| {
                let name = f
                    .path()
                    .file_stem()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned();
                let source = f.contents_utf8().expect("presets are UTF-8");
                let table: toml::Table = source
                    .parse()
                    .unwrap_or_else(|e| panic!("presets/{name}.toml does not parse: {e}"));
                let description = table
                    .get("preset")
                    .and_then(|p| p.get("description"))
                    .and_then(|d| d.as_str())
                    .unwrap_or_else(|| panic!("presets/{name}.toml lacks [preset] description"))
                    .to_string();
                Preset {
                    name,
                    description,
                    source,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn find(name: &str) -> Result<Preset, Error> {
        Preset::all()
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::Usage(unknown_preset_message(name)))
    }

    /// The preset as a profile layer (its `[preset]` table removed).
    pub fn layer(&self) -> Layer {
        let mut layer = Layer::from_toml(self.source, &format!("presets/{}.toml", self.name))
            .expect("embedded presets parse");
        layer.table.remove("preset");
        layer
    }
}

/// The preset names, the nearest to `name` first when one is close.
fn unknown_preset_message(name: &str) -> String {
    let names: Vec<String> = Preset::all().into_iter().map(|p| p.name).collect();
    let hint = closest(name, names.iter().map(String::as_str))
        .map(|n| format!(" Did you mean {n}?"))
        .unwrap_or_default();
    format!(
        "unknown preset '{name}'.{hint} The presets are: {}. \
         Run `shipready presets` to see what each is.",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    #[test]
    fn every_preset_yields_a_valid_profile_once_a_domain_is_given() {
        let presets = Preset::all();
        assert!(presets.len() >= 5, "one preset per reference system");
        for p in presets {
            let answers = Layer::default().with("domain", "voice.example.com");
            if let Err(e) = Profile::from_layers(&[p.layer(), answers]) {
                panic!("preset {}: {e}", p.name);
            }
        }
    }
}
