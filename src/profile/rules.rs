//! Validation of a whole profile: every field against its row in the field
//! table, then the rules that relate fields to each other.

use toml::Value;

use super::fields::FIELDS;
use super::layer::lookup;
use super::schema::{Profile, RedisRole, Runtime};
use super::RESERVED_SERVICE_NAMES;
use crate::error::FieldError;
use crate::images;

/// URL paths that may share a location, as (first, second): the readiness
/// check may be the liveness one, and the auth path may be the API prefix
/// (the edge then has one location for both).
const SHARED_PATHS: &[(&str, &str)] = &[
    ("service.health_path", "service.ready_path"),
    ("service.api_prefix", "service.auth_path"),
];

impl Profile {
    /// Every rule broken by this profile, each naming field, value and rule.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let Ok(Value::Table(table)) = Value::try_from(self) else {
            unreachable!("a profile serialises to a table")
        };
        for field in FIELDS.iter().filter(|f| !f.key.starts_with("sidecars")) {
            if let Some(value) = lookup(&table, field.key) {
                field.check(field.key, value, &mut out);
            }
        }
        if let Some(Value::Array(sidecars)) = table.get("sidecars") {
            for (i, sidecar) in sidecars.iter().enumerate() {
                let Value::Table(t) = sidecar else { continue };
                for (k, v) in t {
                    let key = format!("sidecars[{i}].{k}");
                    if let Some(field) = super::field(&key) {
                        field.check(&key, v, &mut out);
                    }
                }
            }
        }
        self.related(&mut out);
        out
    }

    fn related(&self, out: &mut Vec<FieldError>) {
        let mut fail = |key: &str, value: &str, rule: &str| {
            out.push(FieldError::invalid(key, value, rule));
        };
        let s = &self.service;
        let (versions, which) = match s.runtime {
            Runtime::Node => (images::NODE, "Node.js major version"),
            Runtime::Fastapi => (images::PYTHON, "Python version"),
        };
        if !versions.iter().any(|(v, _)| *v == s.runtime_version) {
            let list: Vec<&str> = versions.iter().map(|(v, _)| *v).collect();
            fail(
                "service.runtime_version",
                &s.runtime_version,
                &format!("a supported {which} for {}: {}", s.runtime, list.join(", ")),
            );
        }
        if s.start_command.is_empty() {
            fail(
                "service.start_command",
                "[]",
                "a command as a list of words, e.g. [\"node\", \"dist/server.js\"]",
            );
        }
        if self.worker.enabled && self.worker.command.is_empty() {
            fail(
                "worker.command",
                "[]",
                "a command as a list of words, e.g. [\"node\", \"dist/worker.js\"]",
            );
        }

        let mut names = vec![s.name.as_str()];
        for (i, sc) in self.sidecars.iter().enumerate() {
            if names.contains(&sc.name.as_str())
                || RESERVED_SERVICE_NAMES.contains(&sc.name.as_str())
            {
                fail(
                    &format!("sidecars[{i}].name"),
                    &sc.name,
                    "a name not used by another service (the service itself, app, worker, \
                     postgres, redis, nginx, ... are taken)",
                );
            }
            names.push(&sc.name);
        }

        let rd = &self.redis;
        if self.worker.enabled && !rd.enabled {
            fail(
                "worker.enabled",
                "true",
                "a worker needs a queue: set redis.enabled = true",
            );
        }
        if self.worker.enabled && rd.enabled && rd.role == RedisRole::Cache {
            fail(
                "redis.role",
                "cache",
                "\"queue\" or \"primary\" when a worker uses Redis: a cache evicts keys and would lose jobs",
            );
        }

        let a = &self.aws;
        if a.environments.is_empty() {
            fail(
                "aws.environments",
                "[]",
                "at least one environment, e.g. [\"staging\", \"production\"]",
            );
        }
        let mut seen = a.environments.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != a.environments.len() {
            fail(
                "aws.environments",
                &a.environments.join(","),
                "each environment named once",
            );
        }
        for (env, sz) in [
            ("aws.staging", &a.staging),
            ("aws.production", &a.production),
        ] {
            if sz.app_max_tasks < sz.app_min_tasks {
                fail(
                    &format!("{env}.app_max_tasks"),
                    &sz.app_max_tasks.to_string(),
                    &format!("at least {env}.app_min_tasks ({})", sz.app_min_tasks),
                );
            }
        }
        let al = &self.alerts;
        if al.latency_p99_ms < al.latency_p95_ms {
            fail(
                "alerts.latency_p99_ms",
                &al.latency_p99_ms.to_string(),
                &format!("at least alerts.latency_p95_ms ({})", al.latency_p95_ms),
            );
        }
        self.paths_apart(out);
    }

    /// The edge has a location per path: two paths that mean the same
    /// location are a duplicate (nginx refuses to start) or one shadows the
    /// other, and `/` and ACME are the edge's own.
    fn paths_apart(&self, out: &mut Vec<FieldError>) {
        let s = &self.service;
        let mut paths = vec![
            ("service.health_path", s.health_path.as_str()),
            ("service.ready_path", s.ready_path.as_str()),
            ("service.api_prefix", s.api_prefix.as_str()),
            ("service.auth_path", s.auth_path.as_str()),
            ("service.metrics_path", s.metrics_path.as_str()),
            ("voice.webhook_path", self.voice.webhook_path.as_str()),
        ];
        if !self.voice.websocket_path.is_empty() {
            paths.push(("voice.websocket_path", &self.voice.websocket_path));
        }
        let norm = |p: &str| p.trim_end_matches('/').to_string();
        for (i, (key, path)) in paths.iter().enumerate() {
            let n = norm(path);
            if n.is_empty() {
                out.push(FieldError::invalid(
                    key,
                    path,
                    "a path below '/': the edge's own `location /` serves the rest of the site",
                ));
                continue;
            }
            if n == "/.well-known" || n.starts_with("/.well-known/") {
                out.push(FieldError::invalid(
                    key,
                    path,
                    "a path outside /.well-known/: the edge answers ACME challenges there",
                ));
                continue;
            }
            for (other_key, other) in &paths[..i] {
                if norm(other) != n {
                    continue;
                }
                let shared = SHARED_PATHS.contains(&(*other_key, *key));
                // The edge merges api and auth only when they are the same
                // string once the prefix's trailing '/' is dropped.
                let same_location = *key != "service.auth_path" || norm(other) == *path;
                if shared && same_location {
                    continue;
                }
                for (k, p, o_key, o) in
                    [(key, path, other_key, other), (other_key, other, key, path)]
                {
                    out.push(FieldError::invalid(
                        k,
                        p,
                        &format!(
                            "a path of its own: {o_key} is already {o:?} and the edge \
                             routes each path to one location"
                        ),
                    ));
                }
            }
        }
    }
}
