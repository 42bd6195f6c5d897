//! Layers of answers and how they merge: a preset, a `--values` file,
//! `--set` pairs, detected or interactive answers, each a TOML table keyed
//! like the profile. Keys are resolved through the same short forms
//! everywhere and checked against the known keys, with a suggestion.

use toml::Value;

use super::fields::{self, FIELDS};
use super::suggest::closest;
use crate::error::{Error, FieldError};

/// Short keys for the answers people give most often, accepted by `--set`,
/// at the top of a `--values` file and by [`Layer::with`].
pub const KEY_ALIASES: &[(&str, &str)] = &[
    ("name", "service.name"),
    ("domain", "edge.domain"),
    ("runtime", "service.runtime"),
    ("region", "aws.region"),
    ("repository", "ci.github_repository"),
];

/// Keys that have no default: init cannot run until each has a value.
pub const REQUIRED_KEYS: &[&str] = &["service.name", "edge.domain"];

/// Keys every sidecar table must have.
const SIDECAR_REQUIRED: &[&str] = &["name", "image", "port"];

/// One source of answers: defaults, a preset, a values file or `--set`.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub table: toml::Table,
}

impl Layer {
    /// Parse a TOML document (a preset or a `--values` file). Syntax errors
    /// name the line and column; short keys at the top level are expanded.
    pub fn from_toml(text: &str, origin: &str) -> Result<Layer, Error> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(", line {line}, column {column}")
                })
                .unwrap_or_default();
            Error::Input {
                what: format!("{origin}{at}"),
                message: format!("not valid TOML: {}", e.message().trim()),
            }
        })?;
        for (alias, full) in KEY_ALIASES {
            if table.get(*alias).is_some_and(|v| !v.is_table()) {
                let value = table.remove(*alias).expect("just seen");
                insert(&mut table, full, value);
            }
        }
        Ok(Layer { table })
    }

    /// Build a layer from `key=value` pairs (`--set`). Values are TOML
    /// literals when they parse as one (`3000`, `true`, `["a","b"]`) and
    /// strings otherwise; a string for a list field is split on commas (on
    /// spaces for a command), and a bare number for a text field (a
    /// version such as 3.12) stays the text typed.
    pub fn from_assignments(pairs: &[String]) -> Result<Layer, Error> {
        let mut layer = Layer::default();
        for pair in pairs {
            let (key, raw) = pair.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--set takes key=value, got '{pair}'. Example: --set edge.domain=voice.example.com"
                ))
            })?;
            let key = resolve_key(key.trim()).map_err(|m| Error::Usage(format!("--set: {m}")))?;
            let value = parse_value(&key, raw);
            insert(&mut layer.table, &key, value);
        }
        Ok(layer)
    }

    /// This layer with `key` set: the typed way for code to give answers.
    /// Panics on an unknown key, which is a bug in the caller, with the
    /// nearest known key in the message.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Layer {
        if let Err(e) = self.set(key, value) {
            panic!("{e}");
        }
        self
    }

    /// Set `key` (short forms allowed) to `value`.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Result<(), Error> {
        let key = resolve_key(key).map_err(Error::Usage)?;
        insert(&mut self.table, &key, value.into());
        Ok(())
    }

    /// The value this layer gives `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        lookup(&self.table, &canonical_key(key))
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

fn parse_value(key: &str, raw: &str) -> Value {
    let doc = format!("v = {raw}");
    let parsed = doc
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    let Some(field) = fields::field(key) else {
        return parsed.unwrap_or_else(|| Value::String(raw.to_string()));
    };
    match parsed {
        Some(Value::Integer(_) | Value::Float(_) | Value::Boolean(_)) if field.wants_string() => {
            Value::String(raw.trim().to_string())
        }
        Some(v @ Value::Array(_)) if field.is_list() => v,
        Some(Value::String(s)) if field.is_list() => split_list(key, &s),
        None if field.is_list() => split_list(key, raw),
        Some(v) => v,
        None => Value::String(raw.to_string()),
    }
}

fn split_list(key: &str, s: &str) -> Value {
    let command = matches!(
        fields::field(key).map(|f| f.kind),
        Some(fields::Kind::Command)
    );
    let items: Vec<Value> = if command {
        // Spaces only: a newline or tab in a word is kept, and refused.
        s.split(' ')
            .filter(|w| !w.is_empty())
            .map(Value::from)
            .collect()
    } else {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(Value::from)
            .collect()
    };
    Value::Array(items)
}

pub fn canonical_key(key: &str) -> String {
    KEY_ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map(|(_, full)| full.to_string())
        .unwrap_or_else(|| key.to_string())
}

/// Whether `key` names a field of the profile (or the sidecar list).
pub fn known_key(key: &str) -> bool {
    key == "sidecars" || (fields::field(key).is_some() && !key.starts_with("sidecars"))
}

/// The full key for `key`, or a message naming the nearest known one.
pub fn resolve_key(key: &str) -> Result<String, String> {
    let full = canonical_key(key);
    if known_key(&full) {
        Ok(full)
    } else {
        Err(unknown_key_message(key))
    }
}

pub fn unknown_key_message(key: &str) -> String {
    let hint = suggest_key(key)
        .map(|k| format!(" Did you mean {k}?"))
        .unwrap_or_default();
    format!(
        "unknown key '{key}'.{hint} Run `shipready presets show NAME` to list every key a profile has."
    )
}

/// The known key nearest to `typed`: by the whole key, then by its last
/// part (`acme_emial` or `edge.acme_emial` -> edge.acme_email).
fn suggest_key(typed: &str) -> Option<String> {
    let keys = || {
        FIELDS
            .iter()
            .map(|f| f.key)
            .chain(KEY_ALIASES.iter().map(|(a, _)| *a))
    };
    if let Some(k) = closest(typed, keys()) {
        return Some(canonical_key(k));
    }
    let last_part = |k: &'static str| k.rsplit('.').next().unwrap_or(k);
    let last = typed.rsplit('.').next().unwrap_or(typed);
    let section = typed.rsplit_once('.').map(|(s, _)| format!("{s}."));
    let in_section: Vec<&'static str> = keys()
        .filter(|k| section.as_ref().is_none_or(|s| k.starts_with(s.as_str())))
        .collect();
    if let Some(hit) = closest(last, in_section.iter().map(|k| last_part(k))) {
        return in_section
            .iter()
            .find(|k| last_part(k) == hit)
            .map(|k| canonical_key(k));
    }
    // A mistyped section: `[servce]`.
    let sections = FIELDS
        .iter()
        .map(|f| f.key.split('.').next().unwrap_or(f.key));
    if let Some(hit) = closest(typed, sections.map(|s| s.trim_end_matches("[]"))) {
        return Some(format!("[{hit}]"));
    }
    // The right key under the wrong section: `[edge] port`.
    FIELDS
        .iter()
        .find(|f| last_part(f.key) == last)
        .map(|f| f.key.to_string())
}

/// Unknown keys and values of the wrong type or out of their rule in the
/// merged layers, before they are turned into a profile: what serde would
/// reject with a message naming Rust types, said in the profile's terms.
pub fn table_problems(table: &toml::Table) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(table, "", &mut out);
    out
}

fn walk(table: &toml::Table, prefix: &str, out: &mut Vec<FieldError>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if key == "sidecars" {
            sidecars(v, out);
        } else if let Some(field) = fields::field(&key) {
            field.check(&key, v, out);
        } else if is_section(&key) {
            match v {
                Value::Table(t) => walk(t, &key, out),
                _ => out.push(FieldError::invalid(
                    &key,
                    &fields::shown(v),
                    &format!("a section: write [{key}] and its keys on the lines below it"),
                )),
            }
        } else {
            out.push(FieldError::parse(&key, &unknown_key_message(&key)));
        }
    }
}

fn is_section(key: &str) -> bool {
    let prefix = format!("{key}.");
    FIELDS
        .iter()
        .any(|f| f.key.starts_with(&prefix) && !f.key.starts_with("sidecars"))
}

fn sidecars(v: &Value, out: &mut Vec<FieldError>) {
    let Value::Array(items) = v else {
        out.push(FieldError::invalid(
            "sidecars",
            &fields::shown(v),
            "a list of tables: [[sidecars]] with name, image and port",
        ));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Value::Table(t) = item else {
            out.push(FieldError::invalid(
                &format!("sidecars[{i}]"),
                &fields::shown(item),
                "a table with name, image and port",
            ));
            continue;
        };
        for required in SIDECAR_REQUIRED {
            if !t.contains_key(*required) {
                out.push(FieldError::missing(format!("sidecars[{i}].{required}")));
            }
        }
        for (k, v) in t {
            let key = format!("sidecars[{i}].{k}");
            match fields::field(&key) {
                Some(field) => field.check(&key, v, out),
                None => out.push(FieldError::parse(&key, &unknown_key_message(&key))),
            }
        }
    }
}

pub fn lookup<'a>(t: &'a toml::Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut cur = t.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

pub fn insert(t: &mut toml::Table, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            t.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = t
                .entry(head.to_string())
                .or_insert_with(|| Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(toml::Table::new());
            }
            insert(
                entry.as_table_mut().expect("just made a table"),
                rest,
                value,
            );
        }
    }
}

/// Deep merge: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_through_short_forms_with_suggestions() {
        assert_eq!(resolve_key("domain").unwrap(), "edge.domain");
        assert!(resolve_key("domian").unwrap_err().contains("edge.domain"));
        assert!(resolve_key("edge.domian")
            .unwrap_err()
            .contains("Did you mean edge.domain?"));
        assert!(resolve_key("edge.acme_emial")
            .unwrap_err()
            .contains("edge.acme_email"));
    }

    #[test]
    fn the_typed_api_and_set_agree() {
        let typed = Layer::default()
            .with("name", "app")
            .with("service.port", 3000)
            .with("worker.queues", vec!["a", "b"]);
        let parsed = Layer::from_assignments(&[
            "name=app".into(),
            "service.port=3000".into(),
            "worker.queues=a, b".into(),
        ])
        .unwrap();
        assert_eq!(typed.table, parsed.table);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err =
            Layer::from_toml("[edge]\ndomain = \"x.com\"\nport = = 3\n", "v.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("v.toml, line 3, column"), "{msg}");
    }
}
