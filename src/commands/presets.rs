//! `shipready presets` and `shipready presets show NAME`.

use toml::Value;

use crate::cli::{PresetsAction, PresetsArgs};
use crate::error::{exit, Error};
use crate::preset::Preset;
use crate::profile::{Layer, Profile, Runtime, FIELDS, REQUIRED_KEYS};
use crate::ui;

/// `presets show` holds to this width, continuation lines indented.
const WIDTH: usize = 80;

pub fn run(args: &PresetsArgs) -> Result<i32, Error> {
    match &args.action {
        None => {
            let presets = Preset::all();
            let width = presets.iter().map(|p| p.name.len()).max().unwrap_or(0);
            // Names in a column, descriptions wrapped beside them at 80.
            let indent = " ".repeat(width + 2);
            for p in &presets {
                let name = format!("{:<width$}  ", p.name);
                let text = wrap(&p.description, &name, &indent);
                print!("{}", text.replacen(&name, &ui::heading(&name), 1));
            }
            print!(
                "{}",
                ui::hint(&wrap(
                    "Use one with `shipready init --preset NAME --set domain=your.domain`; \
                     `shipready presets show NAME` lists every key, its default and what it accepts.",
                    "",
                    ""
                ))
            );
        }
        Some(PresetsAction::Show { name }) => print!("{}", show(&Preset::find(name)?)),
    }
    Ok(exit::OK)
}

/// Every key a profile has: the preset's value (or the default), the
/// default, and what the key accepts.
pub fn show(preset: &Preset) -> String {
    let layer = preset.layer();
    let defaults = [Runtime::Node, Runtime::Fastapi].map(|r| {
        let base = Layer::default()
            .with("name", "app")
            .with("domain", "example.com")
            .with("runtime", r.as_str());
        let profile = Profile::from_layers(&[base]).expect("the defaults are valid");
        match Value::try_from(profile).expect("a profile serialises") {
            Value::Table(t) => t,
            _ => unreachable!("a profile serialises to a table"),
        }
    });
    let mut out = String::new();
    out.push_str(&wrap(
        &format!("{}: {}", preset.name, preset.description),
        "",
        "  ",
    ));
    out.push_str(&wrap(
        "Every key, with this preset's value or the default. Change any with \
         `--set KEY=VALUE` or in a `--values` file; short forms: name, domain, runtime, \
         region, repository.",
        "",
        "",
    ));
    for field in FIELDS {
        let key = field.key;
        let given = preset_value(&layer, key);
        let default = default_text(key, &defaults);
        let (value, origin) = match &given {
            Some(v) => (v.to_string(), format!("preset; default: {default}")),
            None if REQUIRED_KEYS.contains(&key) => (
                "(no default)".to_string(),
                format!("required: give it with --set {key}=..."),
            ),
            None => (default.clone(), "default".to_string()),
        };
        out.push('\n');
        out.push_str(&wrap(&format!("{key} = {value}"), "", "    "));
        out.push_str(&wrap(&format!("({origin})"), "    ", "    "));
        out.push_str(&wrap(
            &format!("accepts: {}", field.accepts()),
            "    ",
            "      ",
        ));
    }
    out
}

fn preset_value(layer: &Layer, key: &str) -> Option<Value> {
    if let Some(rest) = key.strip_prefix("sidecars[].") {
        let Some(Value::Array(items)) = layer.table.get("sidecars") else {
            return None;
        };
        let values: Vec<Value> = items.iter().filter_map(|t| t.get(rest).cloned()).collect();
        return (!values.is_empty()).then_some(Value::Array(values));
    }
    layer.get(key).cloned()
}

fn default_text(key: &str, defaults: &[toml::Table; 2]) -> String {
    if REQUIRED_KEYS.contains(&key) {
        return "none, required".into();
    }
    if let Some(rest) = key.strip_prefix("sidecars[].") {
        return match rest {
            "health_path" => "\"/health\"".into(),
            "memory_mb" => "2048".into(),
            _ => "none, required in each [[sidecars]]".into(),
        };
    }
    let [node, fastapi] = defaults.each_ref().map(|t| {
        crate::profile::lookup_key(t, key)
            .map(Value::to_string)
            .unwrap_or_default()
    });
    // The runtime itself is what the two defaults were made to differ by.
    if node == fastapi || key == "service.runtime" {
        node
    } else {
        format!("{node} for node, {fastapi} for fastapi")
    }
}

/// `text` broken at spaces to [`WIDTH`] columns; a word longer than a line
/// is cut.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        let fits = line.chars().count() + usize::from(!empty) + word.chars().count() <= WIDTH;
        if !empty && !fits {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        let mut word = word.to_string();
        while line.chars().count() + word.chars().count() > WIDTH {
            let room = WIDTH.saturating_sub(line.chars().count()).max(1);
            let head: String = word.chars().take(room).collect();
            word = word.chars().skip(room).collect();
            line.push_str(&head);
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
        }
        line.push_str(&word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_holds_the_width() {
        let long = format!("{} {}", "word ".repeat(40), "x".repeat(200));
        for line in wrap(&long, "", "    ").lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
        }
    }
}
