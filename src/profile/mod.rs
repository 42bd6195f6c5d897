//! The profile: everything a template may read, validated once.
//!
//! A profile is assembled from layers (defaults < preset < `--values` file <
//! `--set`), each a TOML table, merged key by key, checked key by key
//! against the field table (unknown keys, types, rules, each message naming
//! the field, the value and what is accepted), then deserialised and checked
//! as a whole by [`Profile::validate`]. The same validation runs on the
//! profile read back from the lock, so a hand edit cannot get past it.

mod fields;
mod layer;
mod patterns;
mod rules;
mod schema;
mod suggest;

use serde::Deserialize;
use std::path::Path;
use toml::Value;

use crate::error::{Error, FieldError};

pub use fields::{field, Field, Kind, FIELDS, SLUG_RULE};
pub use layer::lookup as lookup_key;
pub use layer::{canonical_key, known_key, resolve_key, Layer, KEY_ALIASES, REQUIRED_KEYS};
use layer::{lookup, merge};
pub use patterns::{is_branch, is_hostname, is_url_path, MAX_DOMAIN_LEN};
pub use schema::*;
pub use suggest::closest;

impl Profile {
    /// Merge the layers (lowest precedence first), deserialise, fill the
    /// runtime-dependent defaults and validate. Every problem is reported at
    /// once: missing keys, unknown keys, bad values.
    pub fn from_layers(layers: &[Layer]) -> Result<Profile, Error> {
        let mut merged = toml::Table::new();
        for layer in layers {
            merge(&mut merged, &layer.table);
        }
        let missing: Vec<String> = REQUIRED_KEYS
            .iter()
            .filter(|k| lookup(&merged, k).is_none_or(is_blank))
            .map(|k| k.to_string())
            .collect();
        // Unknown keys and wrong types first, in the profile's own terms.
        let shape: Vec<FieldError> = layer::table_problems(&merged)
            .into_iter()
            .filter(|p| !(missing.contains(&p.key) && p.value.is_empty()))
            .collect();
        if !shape.is_empty() {
            let mut errors: Vec<FieldError> =
                missing.into_iter().map(FieldError::missing).collect();
            errors.extend(shape);
            return Err(Error::Profile(errors));
        }
        let merged_copy = merged.clone();
        let mut profile: Profile =
            serde_path_to_error::deserialize(Value::Table(merged)).map_err(|e| {
                let key = e.path().to_string();
                // The first line; toml repeats the path on a second one.
                let message = e
                    .into_inner()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Error::Profile(vec![FieldError::parse(&key, &message)])
            })?;
        let port_given = lookup(&merged_copy, "service.port").is_some();
        profile.fill_defaults(port_given);
        // A missing value would also fail its pattern: report it once, as missing.
        let problems: Vec<FieldError> = profile
            .problems()
            .into_iter()
            .filter(|p| !(missing.contains(&p.key) && p.value.is_empty()))
            .collect();
        let mut errors: Vec<FieldError> = missing.into_iter().map(FieldError::missing).collect();
        errors.extend(problems);
        if errors.is_empty() {
            Ok(profile)
        } else {
            Err(Error::Profile(errors))
        }
    }

    /// Every rule, over every field (a disabled feature's values too: the
    /// lock keeps them and turning the feature on renders them).
    pub fn validate(&self) -> Result<(), Error> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Profile(problems))
        }
    }

    /// The profile in a lock file's text, checked as every other source is
    /// (unknown keys, types, every rule) before the lock is trusted: a hand
    /// edit cannot reach the templates. Text that is not a lock at all is
    /// left to the lock's own parser to report.
    /// A lock of a newer `schema` than `known_schema` is left to the lock's
    /// own version check, which says to upgrade.
    pub fn check_locked(text: &str, path: &Path, known_schema: u32) -> Result<(), Error> {
        let Ok(lock) = text.parse::<toml::Table>() else {
            return Ok(());
        };
        if lock
            .get("schema")
            .and_then(Value::as_integer)
            .is_some_and(|s| s > i64::from(known_schema))
        {
            return Ok(());
        }
        let Some(Value::Table(table)) = lock.get("profile") else {
            return Ok(());
        };
        let mut problems = layer::table_problems(table);
        if problems.is_empty() {
            match Profile::deserialize(Value::Table(table.clone())) {
                Ok(profile) => problems = profile.problems(),
                Err(_) => return Ok(()),
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        let mut message = String::from("the [profile] in this lock file is not valid:\n");
        for p in &problems {
            message.push_str(&format!("  - {p}\n"));
        }
        message.push_str(
            "Nothing was written. Correct those values in the lock's [profile] section \
             (or restore it: git checkout -- shipready.toml), then run again.",
        );
        Err(Error::Lock {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Defaults that depend on other answers (the runtime decides the port).
    fn fill_defaults(&mut self, port_given: bool) {
        let node = self.service.runtime == Runtime::Node;
        if self.service.runtime_version.is_empty() {
            self.service.runtime_version = if node { "22" } else { "3.12" }.into();
        }
        if !port_given {
            self.service.port = if node { 3000 } else { 8000 };
        }
        if self.worker.enabled && self.worker.command.is_empty() {
            self.worker.command = if node {
                vec!["node".into(), "dist/worker.js".into()]
            } else {
                vec![
                    "celery".into(),
                    "-A".into(),
                    "app.worker".into(),
                    "worker".into(),
                    "--loglevel=INFO".into(),
                ]
            };
        }
        if self.service.start_command.is_empty() {
            self.service.start_command = if node {
                vec!["node".into(), "dist/server.js".into()]
            } else {
                vec![
                    "uvicorn".into(),
                    "app.main:app".into(),
                    "--host".into(),
                    "0.0.0.0".into(),
                    "--port".into(),
                    self.service.port.to_string(),
                    "--proxy-headers".into(),
                    "--forwarded-allow-ips=*".into(),
                ]
            };
        }
    }
}

impl crate::images::ImageVersions for Profile {
    fn runtime(&self) -> (crate::images::RuntimeBase, &str) {
        let base = match self.service.runtime {
            Runtime::Node => crate::images::RuntimeBase::Node,
            Runtime::Fastapi => crate::images::RuntimeBase::Python,
        };
        (base, &self.service.runtime_version)
    }
    fn postgres_version(&self) -> &str {
        &self.postgres.version
    }
    fn redis_version(&self) -> &str {
        &self.redis.version
    }
}

/// Service names the generated compose files use themselves.
pub const RESERVED_SERVICE_NAMES: &[&str] = &[
    "app",
    "worker",
    "postgres",
    "redis",
    "nginx",
    "certbot",
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "postgres-exporter",
    "redis-exporter",
    "nginx-exporter",
    "blackbox-exporter",
    "cadvisor",
    "backup",
    "migrate",
];

fn is_blank(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Layer {
        Layer::from_toml(
            "[service]\nname = \"voice-agent\"\n[edge]\ndomain = \"voice.example.com\"\n",
            "test",
        )
        .unwrap()
    }

    fn with(pairs: &[&str]) -> Result<Profile, Error> {
        let set =
            Layer::from_assignments(&pairs.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Profile::from_layers(&[base(), set])
    }

    fn rejected_keys(pairs: &[&str]) -> Vec<String> {
        match with(pairs) {
            Err(Error::Profile(errs)) => errs.into_iter().map(|e| e.key).collect(),
            other => panic!("expected a profile error for {pairs:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_depend_on_runtime() {
        let p = with(&["runtime=fastapi"]).unwrap();
        assert_eq!(p.service.port, 8000);
        assert_eq!(p.service.runtime_version, "3.12");
        assert!(p
            .service
            .start_command
            .contains(&"--proxy-headers".to_string()));
        let p = with(&[]).unwrap();
        assert_eq!(p.service.port, 3000);
    }

    #[test]
    fn injection_attempts_are_rejected() {
        assert_eq!(rejected_keys(&["domain=a.com;rm -rf /"]), ["edge.domain"]);
        assert_eq!(rejected_keys(&["name=../x"]), ["service.name"]);
        assert_eq!(
            rejected_keys(&["service.health_path=/h;return 200"]),
            ["service.health_path"]
        );
        assert_eq!(
            rejected_keys(&["edge.cors_origins=[\"*\"]"]),
            ["edge.cors_origins[0]"]
        );
        assert_eq!(
            rejected_keys(&["service.start_command=[\"node\",\"$(id)\"]"]),
            ["service.start_command[1]"]
        );
        assert_eq!(rejected_keys(&["domain=a.com\nb: c"]), ["edge.domain"]);
        assert_eq!(
            rejected_keys(&["edge.content_security_policy=default-src \"x\""]),
            ["edge.content_security_policy"]
        );
    }

    #[test]
    fn values_are_range_checked() {
        assert_eq!(rejected_keys(&["service.port=0"]), ["service.port"]);
        assert_eq!(
            rejected_keys(&["alerts.error_ratio=5"]),
            ["alerts.error_ratio"]
        );
        assert_eq!(rejected_keys(&["region=mars-1"]), ["aws.region"]);
    }

    #[test]
    fn a_worker_needs_a_persistent_queue() {
        let keys = rejected_keys(&[
            "worker.enabled=true",
            "redis.enabled=true",
            "redis.role=cache",
        ]);
        assert_eq!(keys, ["redis.role"]);
        assert!(with(&[
            "worker.enabled=true",
            "redis.enabled=true",
            "redis.role=queue"
        ])
        .is_ok());
    }

    #[test]
    fn unknown_set_key_is_a_usage_error() {
        let err = Layer::from_assignments(&["edge.domian=x.com".to_string()]).unwrap_err();
        assert!(matches!(err, Error::Usage(m) if m.contains("edge.domian")));
    }

    #[test]
    fn missing_required_keys_are_listed_together() {
        match Profile::from_layers(&[Layer::default()]) {
            Err(Error::Profile(errs)) => {
                let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
                assert_eq!(keys, ["service.name", "edge.domain"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn type_errors_name_their_key() {
        let bad = Layer::from_toml("[edge]\ndomian = \"x.com\"\n", "values").unwrap();
        match Profile::from_layers(&[base(), bad]) {
            Err(Error::Profile(errs)) => assert_eq!(errs[0].key, "edge.domian"),
            other => panic!("{other:?}"),
        }
        assert_eq!(rejected_keys(&["service.port=abc"]), ["service.port"]);
    }

    fn leaves(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Table(t) => leaves(t, &key, out),
                _ => out.push(key),
            }
        }
    }

    #[test]
    fn the_field_table_covers_exactly_the_schema() {
        let mut profile = Profile::skeleton();
        profile.sidecars.push(Sidecar {
            name: "inference".into(),
            image: "ghcr.io/acme/inference:1.4.2".into(),
            port: 8080,
            health_path: "/health".into(),
            memory_mb: 2048,
        });
        let Value::Table(t) = Value::try_from(&profile).unwrap() else {
            unreachable!()
        };
        let mut keys = Vec::new();
        leaves(&t, "", &mut keys);
        keys.retain(|k| k != "sidecars");
        let Some(Value::Array(sc)) = t.get("sidecars") else {
            unreachable!()
        };
        leaves(sc[0].as_table().unwrap(), "sidecars[]", &mut keys);
        keys.sort();
        let mut table: Vec<String> = FIELDS.iter().map(|f| f.key.to_string()).collect();
        table.sort();
        assert_eq!(keys, table);
    }

    #[test]
    fn enum_words_are_serde_spellings() {
        for (word, value) in Runtime::WORDS.iter().zip(Runtime::ALL) {
            assert_eq!(Value::try_from(value).unwrap().as_str(), Some(*word));
        }
        for (word, value) in WorkerKind::WORDS.iter().zip(WorkerKind::ALL) {
            assert_eq!(Value::try_from(value).unwrap().as_str(), Some(*word));
        }
        for (word, value) in RedisRole::WORDS.iter().zip(RedisRole::ALL) {
            assert_eq!(Value::try_from(value).unwrap().as_str(), Some(*word));
        }
        for (word, value) in VoiceProvider::WORDS.iter().zip(VoiceProvider::ALL) {
            assert_eq!(Value::try_from(value).unwrap().as_str(), Some(*word));
        }
        for (word, value) in TlsMode::WORDS.iter().zip(TlsMode::ALL) {
            assert_eq!(Value::try_from(value).unwrap().as_str(), Some(*word));
        }
        for (word, value) in DeployTarget::WORDS.iter().zip(DeployTarget::ALL) {
            assert_eq!(Value::try_from(value).unwrap().as_str(), Some(*word));
        }
    }
}
