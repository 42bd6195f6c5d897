//! Facts about the repository that several checks share: which data
//! stores it runs and what Redis is for, its voice provider, its compose
//! projects, and the profile `shipready init` would use here (which names
//! the files that close a gap).

use std::path::Path;

use super::walk::{is_redis_conf, is_tf, rx, Repo};
use crate::core::catalog::{Each, CATALOG};
use crate::core::lock::{Lock, LOCK_FILE};
use crate::detect::command::Proposal;
use crate::detect::compose::{Project, Service};
use crate::preset::Preset;
use crate::profile::{Layer, Profile, RedisRole, VoiceProvider};

/// Images of data stores whose volumes need backups, by engine.
const STORE_IMAGES: &[(&str, &[&str])] = &[
    (
        "postgres",
        &[
            "postgres",
            "postgis/postgis",
            "bitnami/postgresql",
            "timescale/timescaledb",
        ],
    ),
    (
        "mysql",
        &["mysql", "mariadb", "bitnami/mysql", "bitnami/mariadb"],
    ),
    (
        "mongo",
        &[
            "mongo",
            "bitnami/mongodb",
            "mongodb/mongodb-community-server",
        ],
    ),
];
const REDIS_IMAGES: &[&str] = &[
    "redis",
    "bitnami/redis",
    "valkey/valkey",
    "redis/redis-stack",
];

/// A database the repository runs, and why the audit thinks so.
pub struct Store {
    pub engine: &'static str,
    pub why: String,
}

pub struct Ctx<'a> {
    pub repo: &'a Repo,
    pub compose: Vec<Project>,
    pub database: Option<Store>,
    pub redis: Option<String>,
    /// Why Redis holds nothing that must survive (a cache, a pub/sub
    /// adapter), if it does not.
    pub redis_ephemeral: Option<String>,
    pub voice: Option<(VoiceProvider, String)>,
    /// The profile whose catalog entries name the fixing files.
    pub profile: Option<Profile>,
    pub proposal: Proposal,
}

/// The repository part of an image reference: "docker.io/library/redis:7" → "redis".
pub fn image_repo(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_colon = no_digest
        .rfind(':')
        .filter(|&i| !no_digest[i..].contains('/'));
    let repo = last_colon.map_or(no_digest, |i| &no_digest[..i]);
    repo.trim_start_matches("docker.io/")
        .trim_start_matches("library/")
}

pub fn service_is(s: &Service, repos: &[&str]) -> bool {
    s.image().is_some_and(|i| repos.contains(&image_repo(i)))
}

impl<'a> Ctx<'a> {
    pub fn new(repo: &'a Repo, dir: &Path) -> Ctx<'a> {
        let detection = crate::detect::detect(dir);
        let proposal = Proposal::from_detection(&detection);
        let lock = Lock::read(dir).ok().flatten();
        let compose = repo.compose_projects();
        let services = || compose.iter().flat_map(|p| p.services.iter());
        let at = |s: &Service| format!("{}:{}", s.file, s.line);

        let mut database = detection
            .postgres
            .as_ref()
            .filter(|p| p.value)
            .map(|d| Store {
                engine: "postgres",
                why: d.evidence.clone(),
            })
            .or_else(|| {
                lock.as_ref()
                    .filter(|l| l.profile.postgres.enabled)
                    .map(|_| Store {
                        engine: "postgres",
                        why: format!("postgres.enabled in {LOCK_FILE}"),
                    })
            });
        if database.is_none() {
            database = STORE_IMAGES.iter().find_map(|(engine, images)| {
                services().find(|s| service_is(s, images)).map(|s| Store {
                    engine,
                    why: format!("{} in {}", s.image().unwrap_or(""), at(s)),
                })
            });
        }
        if database.is_none() {
            database = repo
                .first(is_tf, rx!(r#"resource\s+"aws_(db_instance|rds_cluster)""#))
                .map(|e| Store {
                    engine: "postgres",
                    why: format!("{}:{}", e.file, e.line),
                });
        }

        let redis = detection
            .redis
            .as_ref()
            .map(|d| d.evidence.clone())
            .or_else(|| {
                lock.as_ref()
                    .filter(|l| l.profile.redis.enabled)
                    .map(|_| format!("redis.enabled in {LOCK_FILE}"))
            })
            .or_else(|| {
                services()
                    .find(|s| service_is(s, REDIS_IMAGES))
                    .map(|s| format!("{} in {}", s.image().unwrap_or(""), at(s)))
            })
            .or_else(|| {
                repo.first(is_tf, rx!(r#"resource\s+"aws_elasticache_"#))
                    .or_else(|| repo.first(is_redis_conf, rx!(r"\S")))
                    .map(|e| format!("{}:{}", e.file, e.line))
            });

        // Redis's role: the lock's, else an evicting policy, else detection's.
        let redis_ephemeral = match &lock {
            Some(l) if l.profile.redis.enabled => (l.profile.redis.role == RedisRole::Cache)
                .then(|| format!("redis.role = \"cache\" in {LOCK_FILE}")),
            _ => repo
                .first(
                    is_redis_conf,
                    rx!(r"^\s*maxmemory-policy\s+(allkeys|volatile)-"),
                )
                .map(|e| format!("{}:{} {}", e.file, e.line, e.text))
                .or_else(|| {
                    detection
                        .redis
                        .as_ref()
                        .filter(|r| r.value == RedisRole::Cache)
                        .map(|r| r.evidence.clone())
                }),
        };

        let voice = match &lock {
            Some(l) if l.profile.voice.provider != VoiceProvider::None => Some((
                l.profile.voice.provider,
                format!("voice.provider in {LOCK_FILE}"),
            )),
            _ => detection
                .voice
                .as_ref()
                .map(|v| (v.value, v.evidence.clone())),
        };

        let profile = lock.map(|l| l.profile).or_else(|| {
            let placeholders = Layer::from_toml(
                "[service]\nname = \"app\"\n[edge]\ndomain = \"example.com\"\n",
                "placeholders",
            )
            .ok()?;
            let mut layers = vec![placeholders];
            if let Some(p) = proposal
                .preset
                .as_ref()
                .and_then(|c| Preset::find(c.name).ok())
            {
                layers.push(p.layer());
            }
            layers.push(proposal.layer());
            Profile::from_layers(&layers).ok()
        });
        Ctx {
            repo,
            compose,
            database,
            redis,
            redis_ephemeral,
            voice,
            profile,
            proposal,
        }
    }

    /// Services of the production compose project (files with "prod" in
    /// the name; otherwise every project), overrides merged.
    pub fn prod_services(&self) -> Vec<&Service> {
        let prod: Vec<&Project> = self.compose.iter().filter(|p| p.is_prod()).collect();
        let projects: Vec<&Project> = if prod.is_empty() {
            self.compose.iter().collect()
        } else {
            prod
        };
        projects
            .into_iter()
            .flat_map(|p| p.services.iter())
            .collect()
    }

    /// Catalog destinations under the given prefixes that `init` would
    /// write for this repository: for the profile init would use, else any
    /// the catalog has there; the prefixes themselves only when the catalog
    /// has none (a build without that area's templates).
    pub fn fix_files(&self, prefixes: &[&str]) -> Vec<String> {
        let envs: Vec<String> = self
            .profile
            .as_ref()
            .map(|p| p.aws.environments.clone())
            .unwrap_or_else(|| vec!["staging".into(), "production".into()]);
        let collect = |only_profile: bool| {
            let mut out: Vec<String> = Vec::new();
            for e in CATALOG {
                if let (true, Some(p)) = (only_profile, &self.profile) {
                    if !(e.when)(p) {
                        continue;
                    }
                }
                let dests: Vec<String> = match e.each {
                    Each::Once => vec![e.dest.to_string()],
                    Each::Environment => envs.iter().map(|n| e.dest.replace("{env}", n)).collect(),
                };
                for d in dests {
                    if prefixes.iter().any(|p| d == *p || d.starts_with(p)) && !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
            out
        };
        let mut out = collect(true);
        if out.is_empty() {
            out = collect(false);
        }
        if out.is_empty() {
            out = prefixes.iter().map(|p| p.to_string()).collect();
        }
        out
    }
}
