//! `shipready presets` and `shipready presets show NAME`.

use crate::cli::{PresetsAction, PresetsArgs};
use crate::error::{exit, Error};
use crate::preset::Preset;
use crate::ui;

pub fn run(args: &PresetsArgs) -> Result<i32, Error> {
    match &args.action {
        None => {
            let presets = Preset::all();
            let width = presets.iter().map(|p| p.name.len()).max().unwrap_or(0);
            for p in &presets {
                println!(
                    "{}  {}",
                    ui::heading(&format!("{:<width$}", p.name)),
                    p.description
                );
            }
            println!(
                "{}",
                ui::hint("Use one with `shipready init --preset NAME --set domain=your.domain`; `shipready presets show NAME` prints its answers.")
            );
        }
        Some(PresetsAction::Show { name }) => print!("{}", Preset::find(name)?.source),
    }
    Ok(exit::OK)
}
