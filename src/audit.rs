//! `shipready audit`: score an existing repository against the
//! production-readiness checklist, without the network.
//!
//! Each check looks for the property itself (`ssl_protocols TLSv1.2 TLSv1.3`,
//! `cap_drop: [ALL]` on every compose service, `storage_encrypted = true`),
//! not for shipready's own file names, so it gives the same answer on a
//! hand-written repository. A check passes with evidence (file:line), is a
//! gap with the files `shipready init` would add to close it (taken from the
//! catalog), or does not apply (e.g. Redis checks in a repository without
//! Redis). The score is the share of applicable checks that pass.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::cli::{AuditArgs, Format};
use crate::core::catalog::{Each, CATALOG};
use crate::core::lock::{Lock, LOCK_FILE};
use crate::detect;
use crate::error::{exit, Error};
use crate::profile::{Layer, Profile};
use crate::ui;

/// Where a property was found (or where a problem is).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub file: String,
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}  {}", self.file, self.line, self.text)
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Gap,
    NotApplicable,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// What was found: proof for a pass, the offending lines for a gap.
    pub evidence: Vec<Evidence>,
    /// One sentence: why it passes, what is missing, or why it does not apply.
    pub detail: String,
    /// For a gap: the files `shipready init` would add that close it.
    pub fix: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryResult {
    pub id: &'static str,
    pub title: &'static str,
    pub passed: usize,
    pub applicable: usize,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: String,
    /// 0–100: passed / applicable checks, rounded down.
    pub score: u32,
    pub passed: usize,
    pub applicable: usize,
    pub categories: Vec<CategoryResult>,
}

pub fn run(args: &AuditArgs) -> Result<i32, Error> {
    if !args.dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory. Give the repository to audit: `shipready audit DIR`.",
            args.dir.display()
        )));
    }
    if args.min_score > 100 {
        return Err(Error::Usage(format!(
            "--min-score takes 0 to 100, got {}",
            args.min_score
        )));
    }
    let report = audit(&args.dir)?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        ),
        Format::Text => print!("{}", render_text(&report)),
    }
    if report.score < u32::from(args.min_score) {
        if args.format == Format::Text {
            println!(
                "Score {} is below --min-score {}.",
                report.score, args.min_score
            );
        }
        return Ok(exit::FINDINGS);
    }
    Ok(exit::OK)
}

/// Audit `dir` and return the report.
pub fn audit(dir: &Path) -> Result<Report, Error> {
    let repo = Repo::load(dir)?;
    let ctx = Ctx::new(&repo, dir);
    let mut categories = Vec::new();
    for cat in CATEGORIES {
        let checks: Vec<CheckResult> = cat
            .checks
            .iter()
            .map(|c| {
                let outcome = (c.run)(&ctx);
                let (status, evidence, detail) = match outcome {
                    Outcome::Pass(ev, d) => (Status::Pass, ev, d),
                    Outcome::Gap(ev, d) => (Status::Gap, ev, d),
                    Outcome::Na(d) => (Status::NotApplicable, Vec::new(), d),
                };
                let fix = if status == Status::Gap {
                    ctx.fix_files(c.fixed_by)
                } else {
                    Vec::new()
                };
                CheckResult {
                    id: c.id,
                    title: c.title,
                    status,
                    evidence,
                    detail,
                    fix,
                }
            })
            .collect();
        let passed = checks.iter().filter(|c| c.status == Status::Pass).count();
        let applicable = checks
            .iter()
            .filter(|c| c.status != Status::NotApplicable)
            .count();
        categories.push(CategoryResult {
            id: cat.id,
            title: cat.title,
            passed,
            applicable,
            checks,
        });
    }
    let passed: usize = categories.iter().map(|c| c.passed).sum();
    let applicable: usize = categories.iter().map(|c| c.applicable).sum();
    let score = (passed * 100).checked_div(applicable).unwrap_or(0) as u32;
    Ok(Report {
        dir: dir.display().to_string(),
        score,
        passed,
        applicable,
        categories,
    })
}

pub fn render_text(r: &Report) -> String {
    let mut out = format!(
        "{} {} — score {}/100 ({} of {} applicable checks pass)\n",
        ui::heading("shipready audit of"),
        r.dir,
        r.score,
        r.passed,
        r.applicable
    );
    let width = CATEGORIES
        .iter()
        .flat_map(|c| c.checks.iter().map(|k| k.title.len()))
        .max()
        .unwrap_or(30);
    for c in &r.categories {
        out.push_str(&format!(
            "\n{}  {}/{}\n",
            ui::heading(c.title),
            c.passed,
            c.applicable
        ));
        for k in &c.checks {
            let label = match k.status {
                Status::Pass => "ok",
                Status::Gap => "gap",
                Status::NotApplicable => "n/a",
            };
            let styled = ui::state_style(match k.status {
                Status::Pass => "ok",
                Status::Gap => "fail",
                Status::NotApplicable => "n/a",
            })
            .apply_to(format!("{label:<4}"));
            out.push_str(&format!("  {styled} {:<width$}  {}\n", k.title, k.detail));
            let pad = " ".repeat(width + 9);
            for e in k.evidence.iter().take(4) {
                out.push_str(&format!("{pad}{e}\n"));
            }
            if k.evidence.len() > 4 {
                out.push_str(&format!("{pad}… and {} more\n", k.evidence.len() - 4));
            }
            if !k.fix.is_empty() {
                out.push_str(&format!(
                    "{pad}{}\n",
                    ui::hint(&format!("fix: `shipready init` adds {}", k.fix.join(", ")))
                ));
            }
        }
    }
    let gaps = r
        .categories
        .iter()
        .flat_map(|c| &c.checks)
        .filter(|k| k.status == Status::Gap)
        .count();
    if gaps > 0 {
        out.push_str(&format!(
            "\n{gaps} gaps. `shipready init` (or `shipready init --dry-run` to look first) writes the files named above.\n"
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// The repository, read once.

const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".terraform",
    ".next",
    "dist",
    "build",
    ".mypy_cache",
    ".pytest_cache",
    "vendor",
];
const MAX_FILE: u64 = 1024 * 1024;
const MAX_FILES: usize = 20_000;

pub struct SourceFile {
    pub path: String,
    pub text: String,
}

pub struct Repo {
    pub files: Vec<SourceFile>,
}

impl Repo {
    pub fn load(root: &Path) -> Result<Repo, Error> {
        let mut files = Vec::new();
        let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
            let mut entries: Vec<_> = entries.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                // symlink_metadata: never follow links out of the repository.
                let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                    continue;
                };
                let name = e.file_name().to_string_lossy().into_owned();
                if meta.is_dir() {
                    if !SKIP_DIRS.contains(&name.as_str()) {
                        stack.push(e.path());
                    }
                } else if meta.is_file() && meta.len() <= MAX_FILE && files.len() < MAX_FILES {
                    let rel = e
                        .path()
                        .strip_prefix(root)
                        .expect("under root")
                        .to_string_lossy()
                        .replace('\\', "/");
                    // The lock holds copies of every generated file: it is
                    // not configuration and would double every finding.
                    if rel == LOCK_FILE {
                        continue;
                    }
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        files.push(SourceFile { path: rel, text });
                    }
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Repo { files })
    }

    fn matching<'a>(&'a self, kind: fn(&str) -> bool) -> impl Iterator<Item = &'a SourceFile> + 'a {
        self.files.iter().filter(move |f| kind(&f.path))
    }

    /// Every line of files of `kind` matching `re`.
    fn grep(&self, kind: fn(&str) -> bool, re: &Regex) -> Vec<Evidence> {
        self.matching(kind).flat_map(|f| grep_file(f, re)).collect()
    }

    fn first(&self, kind: fn(&str) -> bool, re: &Regex) -> Option<Evidence> {
        self.matching(kind)
            .find_map(|f| grep_file(f, re).into_iter().next())
    }
}

/// Matching lines of `f`; comments are not configuration, so they are
/// never evidence (except in Markdown, where `#` starts a heading).
fn grep_file(f: &SourceFile, re: &Regex) -> Vec<Evidence> {
    let markdown = f.path.ends_with(".md");
    f.text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            markdown || !(t.starts_with('#') || t.starts_with("//"))
        })
        .filter(|(_, l)| re.is_match(l))
        .map(|(i, l)| ev(&f.path, i + 1, l))
        .collect()
}

fn ev(file: &str, line: usize, text: &str) -> Evidence {
    let mut t = text.trim().to_string();
    if t.chars().count() > 100 {
        t = t.chars().take(99).collect::<String>() + "…";
    }
    Evidence {
        file: file.to_string(),
        line,
        text: t,
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("audit patterns are valid")
}

/// A lazily compiled regex, one per call site.
macro_rules! rx {
    ($p:expr) => {{
        static R: OnceLock<Regex> = OnceLock::new();
        R.get_or_init(|| re($p))
    }};
}

// File kinds.
fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}
fn is_conf(p: &str) -> bool {
    p.ends_with(".conf") && !file_name(p).contains("redis")
}
fn is_redis_conf(p: &str) -> bool {
    file_name(p).contains("redis") && p.ends_with(".conf")
}
fn is_dockerfile(p: &str) -> bool {
    let n = file_name(p);
    n == "Dockerfile"
        || n.starts_with("Dockerfile.")
        || n.ends_with(".Dockerfile")
        || n == "Containerfile"
}
fn is_compose(p: &str) -> bool {
    let n = file_name(p);
    (n.starts_with("compose") || n.starts_with("docker-compose"))
        && (n.ends_with(".yml") || n.ends_with(".yaml"))
}
fn is_tf(p: &str) -> bool {
    p.ends_with(".tf")
}
fn is_tfvars(p: &str) -> bool {
    p.ends_with(".tfvars")
}
fn is_workflow(p: &str) -> bool {
    (p.starts_with(".github/workflows/") && (p.ends_with(".yml") || p.ends_with(".yaml")))
        || p == ".gitlab-ci.yml"
}
fn is_yaml(p: &str) -> bool {
    p.ends_with(".yml") || p.ends_with(".yaml")
}
fn is_script(p: &str) -> bool {
    p.ends_with(".sh") || p.ends_with(".bash")
}
fn is_code_or_conf(p: &str) -> bool {
    const EXT: &[&str] = &[
        ".conf", ".js", ".mjs", ".cjs", ".ts", ".py", ".tf", ".yml", ".yaml", ".json", ".toml",
    ];
    EXT.iter().any(|e| p.ends_with(e)) && !p.ends_with("package-lock.json")
}
fn is_env_example(p: &str) -> bool {
    matches!(
        file_name(p),
        ".env.example" | ".env.sample" | ".env.template" | "env.example"
    )
}
fn is_env_file(p: &str) -> bool {
    let n = file_name(p);
    (n == ".env" || n.starts_with(".env.") || n.ends_with(".env")) && !is_env_example(p)
}
fn is_runbook(p: &str) -> bool {
    let l = p.to_ascii_lowercase();
    l.ends_with(".md") && (file_name(&l).starts_with("runbook") || l.contains("runbooks/"))
}

// ---------------------------------------------------------------------------
// Facts shared by checks.

struct Ctx<'a> {
    repo: &'a Repo,
    /// Why the repository counts as using Postgres, if it does.
    postgres: Option<String>,
    redis: Option<String>,
    /// Evidence that Redis is a cache (an evicting maxmemory-policy).
    redis_cache: Option<Evidence>,
    /// The profile whose catalog entries name the fixing files.
    profile: Option<Profile>,
}

impl<'a> Ctx<'a> {
    fn new(repo: &'a Repo, dir: &Path) -> Ctx<'a> {
        let detection = detect::detect(dir);
        let lock = Lock::read(dir).ok().flatten();
        let postgres = detection
            .postgres
            .as_ref()
            .map(|d| d.evidence.clone())
            .or_else(|| {
                lock.as_ref()
                    .filter(|l| l.profile.postgres.enabled)
                    .map(|_| format!("postgres.enabled in {LOCK_FILE}"))
            })
            .or_else(|| {
                repo.first(is_compose, rx!(r"^\s*image:\s*[\w./-]*postgres"))
                    .or_else(|| {
                        repo.first(is_tf, rx!(r#"resource\s+"aws_(db_instance|rds_cluster)""#))
                    })
                    .map(|e| format!("{}:{}", e.file, e.line))
            });
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
                repo.first(is_compose, rx!(r"^\s*image:\s*[\w./-]*redis"))
                    .or_else(|| repo.first(is_tf, rx!(r#"resource\s+"aws_elasticache_"#)))
                    .or_else(|| repo.first(is_redis_conf, rx!(r"\S")))
                    .map(|e| format!("{}:{}", e.file, e.line))
            });
        let redis_cache = repo.first(
            is_redis_conf,
            rx!(r"^\s*maxmemory-policy\s+(allkeys|volatile)-"),
        );
        let profile = lock.map(|l| l.profile).or_else(|| {
            let mut sets = detection.assignments();
            if detection.name.is_none() {
                sets.push("service.name=\"app\"".into());
            }
            sets.push("edge.domain=\"example.com\"".into());
            Layer::from_assignments(&sets)
                .and_then(|l| Profile::from_layers(&[l]))
                .ok()
        });
        Ctx {
            repo,
            postgres,
            redis,
            redis_cache,
            profile,
        }
    }

    /// Catalog destinations under the given prefixes that `init` would
    /// write for this repository; the prefixes themselves when the catalog
    /// has none (a build without that area's templates).
    fn fix_files(&self, prefixes: &[&str]) -> Vec<String> {
        let envs: Vec<String> = self
            .profile
            .as_ref()
            .map(|p| p.aws.environments.clone())
            .unwrap_or_else(|| vec!["staging".into(), "production".into()]);
        let mut out: Vec<String> = Vec::new();
        for e in CATALOG {
            if let Some(p) = &self.profile {
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
        if out.is_empty() {
            out = prefixes.iter().map(|p| p.to_string()).collect();
        }
        out
    }
}

enum Outcome {
    Pass(Vec<Evidence>, String),
    Gap(Vec<Evidence>, String),
    Na(String),
}
use Outcome::{Gap, Na, Pass};

fn pass(e: Evidence, detail: &str) -> Outcome {
    Pass(vec![e], detail.to_string())
}
fn gap(detail: impl Into<String>) -> Outcome {
    Gap(Vec::new(), detail.into())
}

struct Check {
    id: &'static str,
    title: &'static str,
    run: fn(&Ctx) -> Outcome,
    /// Output-path prefixes of the files that close the gap.
    fixed_by: &'static [&'static str],
}

struct Category {
    id: &'static str,
    title: &'static str,
    checks: &'static [Check],
}

const EDGE: &[&str] = &["deploy/nginx/"];

const CATEGORIES: &[Category] = &[
    Category {
        id: "tls",
        title: "TLS and HSTS",
        checks: &[
            Check {
                id: "tls.protocols",
                title: "TLS 1.2 and 1.3 only",
                run: tls_protocols,
                fixed_by: EDGE,
            },
            Check {
                id: "tls.hsts",
                title: "HSTS for at least 180 days",
                run: tls_hsts,
                fixed_by: EDGE,
            },
            Check {
                id: "tls.redirect",
                title: "HTTP redirects to HTTPS",
                run: tls_redirect,
                fixed_by: EDGE,
            },
        ],
    },
    Category {
        id: "headers",
        title: "Security headers",
        checks: &[
            Check {
                id: "headers.nosniff",
                title: "X-Content-Type-Options nosniff",
                run: h_nosniff,
                fixed_by: EDGE,
            },
            Check {
                id: "headers.frame",
                title: "Framing denied",
                run: h_frame,
                fixed_by: EDGE,
            },
            Check {
                id: "headers.csp",
                title: "Content-Security-Policy",
                run: h_csp,
                fixed_by: EDGE,
            },
            Check {
                id: "headers.referrer",
                title: "Referrer-Policy",
                run: h_referrer,
                fixed_by: EDGE,
            },
            Check {
                id: "headers.server_tokens",
                title: "Server version hidden",
                run: h_tokens,
                fixed_by: EDGE,
            },
        ],
    },
    Category {
        id: "ratelimit",
        title: "Rate limiting",
        checks: &[
            Check {
                id: "ratelimit.requests",
                title: "Request rate limits applied",
                run: rl_requests,
                fixed_by: EDGE,
            },
            Check {
                id: "ratelimit.body",
                title: "Request body size limited",
                run: rl_body,
                fixed_by: EDGE,
            },
        ],
    },
    Category {
        id: "cors",
        title: "CORS",
        checks: &[Check {
            id: "cors.allowlist",
            title: "Explicit origin allow-list",
            run: cors_allowlist,
            fixed_by: &["deploy/nginx/", ".env.example"],
        }],
    },
    Category {
        id: "secrets",
        title: "Secrets out of the repository",
        checks: &[
            Check {
                id: "secrets.store",
                title: "Secrets from files or a manager",
                run: sec_store,
                fixed_by: &[
                    "compose.prod.yaml",
                    "scripts/init-secrets.sh",
                    "secrets/",
                    "docker-entrypoint.sh",
                ],
            },
            Check {
                id: "secrets.example",
                title: "Variables documented, no values",
                run: sec_example,
                fixed_by: &[".env.example"],
            },
            Check {
                id: "secrets.literals",
                title: "No literal secrets in configs",
                run: sec_literals,
                fixed_by: &["compose.prod.yaml", "Dockerfile"],
            },
        ],
    },
    Category {
        id: "containers",
        title: "Containers",
        checks: &[
            Check {
                id: "containers.non_root",
                title: "Final image runs as non-root",
                run: c_non_root,
                fixed_by: &["Dockerfile"],
            },
            Check {
                id: "containers.healthcheck",
                title: "Image has a health check",
                run: c_healthcheck,
                fixed_by: &["Dockerfile", "compose.prod.yaml"],
            },
            Check {
                id: "containers.pinned",
                title: "Base images pinned",
                run: c_pinned,
                fixed_by: &["Dockerfile"],
            },
            Check {
                id: "containers.dockerignore",
                title: ".dockerignore keeps .env and .git out",
                run: c_dockerignore,
                fixed_by: &[".dockerignore"],
            },
        ],
    },
    Category {
        id: "compose",
        title: "Hardened compose",
        checks: &[
            Check {
                id: "compose.cap_drop",
                title: "cap_drop: [ALL] on every service",
                run: cmp_cap_drop,
                fixed_by: &["compose.prod.yaml"],
            },
            Check {
                id: "compose.no_new_privileges",
                title: "no-new-privileges on every service",
                run: cmp_nnp,
                fixed_by: &["compose.prod.yaml"],
            },
            Check {
                id: "compose.read_only",
                title: "Read-only root filesystems",
                run: cmp_read_only,
                fixed_by: &["compose.prod.yaml"],
            },
            Check {
                id: "compose.limits",
                title: "Memory limits on every service",
                run: cmp_limits,
                fixed_by: &["compose.prod.yaml"],
            },
            Check {
                id: "compose.healthchecks",
                title: "Health checks on every service",
                run: cmp_health,
                fixed_by: &["compose.prod.yaml"],
            },
            Check {
                id: "compose.no_privileged",
                title: "No privileged, host network or docker.sock",
                run: cmp_privileged,
                fixed_by: &["compose.prod.yaml"],
            },
        ],
    },
    Category {
        id: "encryption",
        title: "Encrypted data stores",
        checks: &[
            Check {
                id: "encryption.postgres",
                title: "Database storage encrypted",
                run: enc_postgres,
                fixed_by: &["infra/terraform/"],
            },
            Check {
                id: "encryption.redis",
                title: "Redis encrypted at rest and in transit",
                run: enc_redis,
                fixed_by: &["infra/terraform/"],
            },
            Check {
                id: "encryption.buckets",
                title: "Buckets encrypted server-side",
                run: enc_buckets,
                fixed_by: &["infra/terraform/"],
            },
        ],
    },
    Category {
        id: "redis",
        title: "Redis persistence",
        checks: &[
            Check {
                id: "redis.aof",
                title: "AOF persistence (appendonly yes)",
                run: redis_aof,
                fixed_by: &["deploy/redis/"],
            },
            Check {
                id: "redis.rdb",
                title: "RDB snapshots (save points)",
                run: redis_rdb,
                fixed_by: &["deploy/redis/"],
            },
            Check {
                id: "redis.policy",
                title: "maxmemory and an eviction policy",
                run: redis_policy,
                fixed_by: &["deploy/redis/"],
            },
        ],
    },
    Category {
        id: "backups",
        title: "Backups and restore tests",
        checks: &[
            Check {
                id: "backups.postgres",
                title: "Database dumps",
                run: bk_postgres,
                fixed_by: &["scripts/backup"],
            },
            Check {
                id: "backups.restore_test",
                title: "Restore tested into a scratch database",
                run: bk_restore_test,
                fixed_by: &["scripts/restore", "scripts/verify-backup"],
            },
            Check {
                id: "backups.redis",
                title: "Redis snapshots backed up",
                run: bk_redis,
                fixed_by: &["scripts/backup-redis"],
            },
            Check {
                id: "backups.encrypted",
                title: "Backups encrypted to a key",
                run: bk_encrypted,
                fixed_by: &["scripts/backup"],
            },
        ],
    },
    Category {
        id: "alerts",
        title: "Alerts and their tests",
        checks: &[
            Check {
                id: "alerts.rules",
                title: "Alerting rules",
                run: al_rules,
                fixed_by: &["monitoring/prometheus/rules/"],
            },
            Check {
                id: "alerts.tests",
                title: "Rule unit tests (promtool)",
                run: al_tests,
                fixed_by: &["monitoring/prometheus/tests/"],
            },
            Check {
                id: "alerts.runbooks",
                title: "Every alert links a runbook",
                run: al_runbooks,
                fixed_by: &["monitoring/prometheus/rules/"],
            },
        ],
    },
    Category {
        id: "ci",
        title: "CI with scans",
        checks: &[
            Check {
                id: "ci.workflow",
                title: "CI runs on pushes and pull requests",
                run: ci_workflow,
                fixed_by: &[".github/workflows/ci.yml"],
            },
            Check {
                id: "ci.scans",
                title: "Security scans (image, IaC, code)",
                run: ci_scans,
                fixed_by: &[".github/workflows/ci.yml"],
            },
            Check {
                id: "ci.permissions",
                title: "Least-privilege token permissions",
                run: ci_permissions,
                fixed_by: &[".github/workflows/"],
            },
            Check {
                id: "ci.pinned",
                title: "Actions pinned to commit SHAs",
                run: ci_pinned,
                fixed_by: &[".github/workflows/"],
            },
        ],
    },
    Category {
        id: "deploy",
        title: "Deploy with rollback",
        checks: &[
            Check {
                id: "deploy.workflow",
                title: "Automated deploy",
                run: dp_workflow,
                fixed_by: &[".github/workflows/deploy.yml"],
            },
            Check {
                id: "deploy.rollback",
                title: "Rollback on failure",
                run: dp_rollback,
                fixed_by: &[".github/workflows/deploy.yml", "infra/terraform/"],
            },
            Check {
                id: "deploy.smoke",
                title: "Smoke test after deploy",
                run: dp_smoke,
                fixed_by: &[".github/workflows/deploy.yml"],
            },
            Check {
                id: "deploy.oidc",
                title: "Cloud access through OIDC, no keys",
                run: dp_oidc,
                fixed_by: &[".github/workflows/"],
            },
        ],
    },
    Category {
        id: "iac",
        title: "Infrastructure as code",
        checks: &[
            Check {
                id: "iac.terraform",
                title: "Infrastructure declared in code",
                run: iac_present,
                fixed_by: &["infra/terraform/"],
            },
            Check {
                id: "iac.pinned",
                title: "Terraform and providers pinned",
                run: iac_pinned,
                fixed_by: &["infra/terraform/"],
            },
            Check {
                id: "iac.state",
                title: "Remote state",
                run: iac_state,
                fixed_by: &["infra/terraform/"],
            },
        ],
    },
    Category {
        id: "environments",
        title: "Separate environments",
        checks: &[
            Check {
                id: "environments.config",
                title: "Config per environment",
                run: env_config,
                fixed_by: &["infra/terraform/environments/"],
            },
            Check {
                id: "environments.deploy",
                title: "Deploys staged through environments",
                run: env_deploy,
                fixed_by: &[".github/workflows/deploy.yml"],
            },
        ],
    },
    Category {
        id: "runbook",
        title: "Runbook",
        checks: &[
            Check {
                id: "runbook.doc",
                title: "Runbook in the repository",
                run: rb_doc,
                fixed_by: &["docs/RUNBOOK.md"],
            },
            Check {
                id: "runbook.restore",
                title: "Runbook covers restore",
                run: rb_restore,
                fixed_by: &["docs/RUNBOOK.md"],
            },
        ],
    },
];

/// Every check id, in report order (for tests and docs).
pub fn check_ids() -> Vec<&'static str> {
    CATEGORIES
        .iter()
        .flat_map(|c| c.checks.iter().map(|k| k.id))
        .collect()
}

fn node_dep(ctx: &Ctx, names: &[&str]) -> Option<Evidence> {
    let f = ctx.repo.files.iter().find(|f| f.path == "package.json")?;
    let json: serde_json::Value = serde_json::from_str(&f.text).ok()?;
    for n in names {
        if json.get("dependencies").and_then(|d| d.get(n)).is_some() {
            let pat = format!("\"{}\"", regex::escape(n));
            return grep_file(f, &re(&pat)).into_iter().next();
        }
    }
    None
}

fn py_dep(ctx: &Ctx, names: &[&str]) -> Option<Evidence> {
    for f in ctx.repo.files.iter().filter(|f| {
        let n = file_name(&f.path);
        n == "pyproject.toml" || (n.starts_with("requirements") && n.ends_with(".txt"))
    }) {
        for n in names {
            let pat = format!(r#"(?i)(^|["'\s]){}(\[|[<>=~!;\s"']|$)"#, regex::escape(n));
            if let Some(e) = grep_file(f, &re(&pat)).into_iter().next() {
                return Some(e);
            }
        }
    }
    None
}

// --- TLS ------------------------------------------------------------------

fn tls_protocols(ctx: &Ctx) -> Outcome {
    let lines = ctx.repo.grep(is_conf, rx!(r"^\s*ssl_protocols\s+[^;]*;"));
    let weak: Vec<Evidence> = lines
        .iter()
        .filter(|e| {
            e.text
                .trim_start()
                .trim_start_matches("ssl_protocols")
                .trim_end_matches(';')
                .split_whitespace()
                .any(|p| p != "TLSv1.2" && p != "TLSv1.3")
        })
        .cloned()
        .collect();
    if !weak.is_empty() {
        return Gap(weak, "older protocols than TLS 1.2 are allowed".into());
    }
    if let Some(e) = lines.into_iter().next() {
        return pass(e, "nginx accepts only TLS 1.2 and 1.3");
    }
    if let Some(e) = ctx.repo.first(
        is_tf,
        rx!(r#"ssl_policy\s*=\s*"ELBSecurityPolicy-(TLS13-1-2|TLS-1-2|FS-1-2)"#),
    ) {
        return pass(
            e,
            "the load balancer's policy accepts only TLS 1.2 and newer",
        );
    }
    gap("no TLS termination with ssl_protocols TLSv1.2 TLSv1.3 found")
}

fn tls_hsts(ctx: &Ctx) -> Outcome {
    let lines = ctx.repo.grep(
        is_code_or_conf,
        rx!(r"(?i)Strict-Transport-Security.*max-age=\d+"),
    );
    for e in &lines {
        let age: u64 = rx!(r"max-age=(\d+)")
            .captures(&e.text)
            .and_then(|c| c[1].parse().ok())
            .unwrap_or(0);
        if age >= 15_552_000 {
            return pass(e.clone(), "Strict-Transport-Security is sent");
        }
    }
    if !lines.is_empty() {
        return Gap(
            lines,
            "HSTS max-age is shorter than 180 days (15552000)".into(),
        );
    }
    if let Some(e) = node_dep(ctx, &["helmet"]) {
        return pass(e, "helmet sends Strict-Transport-Security by default");
    }
    gap("no Strict-Transport-Security header")
}

fn tls_redirect(ctx: &Ctx) -> Outcome {
    if let Some(e) = ctx
        .repo
        .first(is_conf, rx!(r"^\s*return\s+30[1278]\s+https://"))
    {
        return pass(e, "plain HTTP is redirected to HTTPS");
    }
    if let Some(e) = ctx
        .repo
        .first(is_tf, rx!(r#"protocol\s*=\s*"HTTPS""#))
        .filter(|_| ctx.repo.first(is_tf, rx!(r"^\s*redirect\s*\{")).is_some())
    {
        return pass(e, "the load balancer redirects HTTP to HTTPS");
    }
    gap("no redirect from HTTP to HTTPS")
}

// --- Headers --------------------------------------------------------------

fn header(ctx: &Ctx, re: &Regex, what: &str, helmet: bool) -> Outcome {
    // Hiding or passing an upstream's header is not sending one.
    let sent = ctx
        .repo
        .grep(is_code_or_conf, re)
        .into_iter()
        .find(|e| !rx!(r"proxy_(hide|pass|ignore)_header").is_match(&e.text));
    if let Some(e) = sent {
        return pass(e, &format!("{what} is set"));
    }
    if helmet {
        if let Some(e) = node_dep(ctx, &["helmet"]) {
            return pass(e, &format!("helmet sets {what} by default"));
        }
    }
    gap(format!("{what} is never set"))
}

fn h_nosniff(ctx: &Ctx) -> Outcome {
    header(
        ctx,
        rx!(r"(?i)X-Content-Type-Options.*nosniff"),
        "X-Content-Type-Options",
        true,
    )
}
fn h_frame(ctx: &Ctx) -> Outcome {
    header(
        ctx,
        rx!(r"(?i)(X-Frame-Options.*(DENY|SAMEORIGIN)|frame-ancestors)"),
        "X-Frame-Options or frame-ancestors",
        true,
    )
}
fn h_csp(ctx: &Ctx) -> Outcome {
    header(
        ctx,
        rx!(r"(?i)Content-Security-Policy"),
        "Content-Security-Policy",
        true,
    )
}
fn h_referrer(ctx: &Ctx) -> Outcome {
    header(ctx, rx!(r"(?i)Referrer-Policy"), "Referrer-Policy", true)
}
fn h_tokens(ctx: &Ctx) -> Outcome {
    if let Some(e) = ctx.repo.first(is_conf, rx!(r"^\s*server_tokens\s+off\s*;")) {
        return pass(e, "nginx does not announce its version");
    }
    if let Some(e) = ctx.repo.first(
        is_code_or_conf,
        rx!(r#"(disable\(\s*['"]x-powered-by|hidePoweredBy|server_header\s*=\s*False)"#),
    ) {
        return pass(e, "the app hides its server header");
    }
    gap("server_tokens off is not set")
}

// --- Rate limiting --------------------------------------------------------

fn rl_requests(ctx: &Ctx) -> Outcome {
    let zone = ctx.repo.first(is_conf, rx!(r"^\s*limit_req_zone\s"));
    let applied = ctx.repo.first(is_conf, rx!(r"^\s*limit_req\s+zone="));
    match (zone, applied) {
        (Some(z), Some(a)) => return Pass(vec![z, a], "nginx limits requests per client".into()),
        (Some(z), None) => {
            return Gap(
                vec![z],
                "a limit_req_zone is defined but no location applies it".into(),
            )
        }
        _ => {}
    }
    if let Some(e) = node_dep(
        ctx,
        &[
            "express-rate-limit",
            "rate-limiter-flexible",
            "@fastify/rate-limit",
        ],
    )
    .or_else(|| py_dep(ctx, &["slowapi", "fastapi-limiter"]))
    {
        return pass(e, "the app limits request rates");
    }
    gap("no limit_req_zone / limit_req, nor a rate-limit library")
}

fn rl_body(ctx: &Ctx) -> Outcome {
    match ctx
        .repo
        .first(is_conf, rx!(r"^\s*client_max_body_size\s+\d+[kKmM]?\s*;"))
    {
        Some(e) => pass(e, "request bodies are capped"),
        None => gap("no client_max_body_size"),
    }
}

// --- CORS -----------------------------------------------------------------

fn cors_allowlist(ctx: &Ctx) -> Outcome {
    let wildcard: Vec<Evidence> = [
        rx!(r#"(?i)Access-Control-Allow-Origin['"]?\s*[:,]?\s*['"]?\*"#),
        rx!(r#"allow_origins\s*=\s*\[\s*['"]\*['"]"#),
        rx!(r#"origin:\s*['"]\*['"]"#),
        rx!(r"\bcors\(\s*\)"),
        rx!(r"(?i)^\s*CORS_(ALLOWED_)?ORIGINS\s*[=:]\s*['\x22]?\*"),
    ]
    .iter()
    .flat_map(|r| {
        ctx.repo.grep(
            |p| is_code_or_conf(p) || is_env_example(p) || is_env_file(p),
            r,
        )
    })
    .collect();
    if !wildcard.is_empty() {
        return Gap(wildcard, "any origin is allowed (*)".into());
    }
    if let Some(e) = ctx.repo.first(
        is_conf,
        rx!(r"(?i)add_header\s+['\x22]?Access-Control-Allow-Origin"),
    ) {
        return pass(e, "nginx answers CORS for listed origins only");
    }
    if let Some(e) = ctx.repo.first(
        |p| is_env_example(p) || is_compose(p) || is_code_or_conf(p),
        rx!(r"(?i)\bCORS_(ALLOWED_)?ORIGINS\b|allow_origins\s*=|ALLOWED_ORIGINS"),
    ) {
        return pass(e, "CORS origins come from an explicit list");
    }
    gap("no CORS policy found")
}

// --- Secrets --------------------------------------------------------------

const SECRET_KEY: &str =
    r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIALS?|AUTH)";

fn secret_assignments(f: &SourceFile) -> Vec<Evidence> {
    let key = rx!(r"^\s*(export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$");
    let secret = rx!(SECRET_KEY);
    f.text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let c = key.captures(l)?;
            let k = &c[2];
            let v = c[3].trim().trim_matches(['"', '\'']);
            let placeholder = v.is_empty()
                || v.starts_with('<')
                || v.starts_with("${")
                || v.to_ascii_lowercase().contains("change")
                || v.starts_with("./")
                || v.starts_with("/run/secrets");
            (secret.is_match(k) && !k.ends_with("_FILE") && !placeholder)
                // The value is never printed, only the key.
                .then(|| ev(&f.path, i + 1, &format!("{k}=…")))
        })
        .collect()
}

fn gitignored(ctx: &Ctx, path: &str) -> bool {
    let name = file_name(path);
    ctx.repo
        .files
        .iter()
        .filter(|f| file_name(&f.path) == ".gitignore")
        .any(|f| {
            f.text.lines().map(str::trim).any(|l| {
                let l = l.trim_start_matches('/');
                l == name
                    || l == ".env*"
                    || l == "*.env"
                    || l == ".env.*" && name.starts_with(".env.")
                    || l == "*"
            })
        })
}

fn sec_store(ctx: &Ctx) -> Outcome {
    let committed: Vec<Evidence> = ctx
        .repo
        .matching(is_env_file)
        .filter(|f| !gitignored(ctx, &f.path))
        .flat_map(secret_assignments)
        .collect();
    if !committed.is_empty() {
        return Gap(
            committed,
            "secret values sit in an env file that .gitignore does not exclude".into(),
        );
    }
    let mech = ctx
        .repo
        .first(is_compose, rx!(r"^secrets:"))
        .or_else(|| {
            ctx.repo.first(
                |p| is_compose(p) || is_env_example(p) || is_dockerfile(p),
                rx!(r"[A-Z0-9]_FILE\s*[:=]"),
            )
        })
        .or_else(|| {
            ctx.repo
                .first(is_tf, rx!(r#"resource\s+"aws_secretsmanager_secret""#))
        })
        .or_else(|| {
            ctx.repo
                .first(|p| is_tf(p) || p.ends_with(".json"), rx!(r#"valueFrom"#))
        });
    match mech {
        Some(e) => pass(e, "secrets are read from files or a secrets manager"),
        None => gap("no secret files (*_FILE, compose secrets) or secrets manager"),
    }
}

fn sec_example(ctx: &Ctx) -> Outcome {
    let Some(f) = ctx.repo.matching(is_env_example).next() else {
        return gap("no .env.example listing the variables the service reads");
    };
    let values = secret_assignments(f);
    if !values.is_empty() {
        return Gap(values, format!("{} holds secret values", f.path));
    }
    match f
        .text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains('=') && !l.trim_start().starts_with('#'))
    {
        Some((i, l)) => pass(
            ev(&f.path, i + 1, l),
            "variables are documented without secret values",
        ),
        None => gap(format!("{} lists no variables", f.path)),
    }
}

fn sec_literals(ctx: &Ctx) -> Outcome {
    let files: Vec<&SourceFile> = ctx
        .repo
        .matching(|p| is_compose(p) || is_dockerfile(p))
        .collect();
    if files.is_empty() {
        return Na("no compose files or Dockerfiles".into());
    }
    let compose = rx!(r#"^\s*-?\s*([A-Za-z0-9_]+)\s*[:=]\s*['"]?([^'"\s#]+)"#);
    let docker = rx!(r"^\s*(ENV|ARG)\s+([A-Za-z0-9_]+)[= ]\s*(\S+)");
    let secret = rx!(SECRET_KEY);
    let mut bad = Vec::new();
    for f in &files {
        for (i, l) in f.text.lines().enumerate() {
            let (k, v) = if is_dockerfile(&f.path) {
                match docker.captures(l) {
                    Some(c) => (c[2].to_string(), c[3].to_string()),
                    None => continue,
                }
            } else {
                match compose.captures(l) {
                    Some(c) => (c[1].to_string(), c[2].to_string()),
                    None => continue,
                }
            };
            let literal = !v.starts_with('$')
                && !v.starts_with("/run/secrets")
                && !v.starts_with("./")
                && !matches!(
                    v.as_str(),
                    "true" | "false" | "yes" | "no" | "|" | ">" | "|-" | ">-"
                );
            if secret.is_match(&k)
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !k.ends_with("_FILE")
                && literal
            {
                bad.push(ev(&f.path, i + 1, &format!("{k}=…")));
            }
        }
    }
    if bad.is_empty() {
        Pass(
            Vec::new(),
            format!(
                "no literal secret in {} compose files and Dockerfiles",
                files.len()
            ),
        )
    } else {
        Gap(bad, "secrets are written into configuration".into())
    }
}

// --- Containers -----------------------------------------------------------

fn dockerfiles<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo.matching(is_dockerfile).collect()
}

fn c_non_root(ctx: &Ctx) -> Outcome {
    let files = dockerfiles(ctx);
    if files.is_empty() {
        return gap("no Dockerfile");
    }
    let mut proof = Vec::new();
    for f in files {
        // The last stage is the image that runs.
        let lines: Vec<&str> = f.text.lines().collect();
        let start = lines
            .iter()
            .rposition(|l| rx!(r"(?i)^\s*FROM\s").is_match(l))
            .unwrap_or(0);
        let user = lines[start..]
            .iter()
            .enumerate()
            .rfind(|(_, l)| rx!(r"(?i)^\s*USER\s+\S").is_match(l));
        match user {
            Some((i, l)) => {
                let who = l.split_whitespace().nth(1).unwrap_or("");
                let name = who.split(':').next().unwrap_or("");
                if name == "root" || name == "0" {
                    return Gap(
                        vec![ev(&f.path, start + i + 1, l)],
                        "the final stage runs as root".into(),
                    );
                }
                proof.push(ev(&f.path, start + i + 1, l));
            }
            None => {
                return Gap(
                    vec![ev(&f.path, start + 1, lines.get(start).unwrap_or(&""))],
                    format!("{}'s final stage has no USER: it runs as root", f.path),
                )
            }
        }
    }
    Pass(proof, "containers run as an unprivileged user".into())
}

fn c_healthcheck(ctx: &Ctx) -> Outcome {
    let files = dockerfiles(ctx);
    if files.is_empty() {
        return gap("no Dockerfile");
    }
    let hc = rx!(r"(?i)^\s*HEALTHCHECK\s+");
    let none = rx!(r"(?i)^\s*HEALTHCHECK\s+NONE");
    let mut proof = Vec::new();
    for f in files {
        match grep_file(f, hc)
            .into_iter()
            .find(|e| !none.is_match(&e.text))
        {
            Some(e) => proof.push(e),
            None => {
                // A compose health check on the service built from it also counts.
                let built = prod_compose_services(ctx)
                    .into_iter()
                    .find(|s| s.block.contains("build:") && s.block.contains("healthcheck:"));
                match built {
                    Some(s) => proof.push(s.at),
                    None => return gap(format!("{} has no HEALTHCHECK", f.path)),
                }
            }
        }
    }
    Pass(
        proof,
        "the orchestrator can tell a hung process from a live one".into(),
    )
}

fn c_pinned(ctx: &Ctx) -> Outcome {
    let files = dockerfiles(ctx);
    if files.is_empty() {
        return gap("no Dockerfile");
    }
    let from = rx!(r"(?i)^\s*FROM\s+(--platform=\S+\s+)?(\S+)(\s+AS\s+(\S+))?");
    let mut bad = Vec::new();
    let mut proof = Vec::new();
    for f in files {
        let mut stages: BTreeSet<String> = BTreeSet::new();
        for (i, l) in f.text.lines().enumerate() {
            let Some(c) = from.captures(l) else { continue };
            let image = c[2].to_string();
            // A later stage built on an earlier one pins nothing new.
            let earlier_stage = stages.contains(&image.to_ascii_lowercase());
            if let Some(s) = c.get(4) {
                stages.insert(s.as_str().to_ascii_lowercase());
            }
            if earlier_stage || image == "scratch" {
                continue;
            }
            let last = image.rsplit('/').next().unwrap_or(&image);
            let pinned = image.contains("@sha256:")
                || last
                    .split_once(':')
                    .is_some_and(|(_, t)| t != "latest" && !t.is_empty());
            if pinned {
                proof.push(ev(&f.path, i + 1, l));
            } else {
                bad.push(ev(&f.path, i + 1, l));
            }
        }
    }
    if !bad.is_empty() {
        return Gap(bad, "base images float (no tag, or :latest)".into());
    }
    Pass(proof, "every base image names a fixed tag or digest".into())
}

fn c_dockerignore(ctx: &Ctx) -> Outcome {
    let Some(f) = ctx.repo.files.iter().find(|f| f.path == ".dockerignore") else {
        return gap("no .dockerignore: .env and .git go into the build context");
    };
    let has = |want: &[&str]| {
        f.text
            .lines()
            .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/'))
            .any(|l| want.contains(&l) || l == "**" || l == "*")
    };
    let env = has(&[".env", ".env*", ".env.*", "**/.env", "**/.env*"]);
    let git = has(&[".git", "**/.git"]);
    match (env, git) {
        (true, true) => pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            ".env files and .git stay out of images",
        ),
        (false, _) => gap(".dockerignore does not exclude .env files"),
        (_, false) => gap(".dockerignore does not exclude .git"),
    }
}

// --- Compose --------------------------------------------------------------

struct Service {
    name: String,
    at: Evidence,
    /// The service's lines, with any `<<: *anchor` merged in.
    block: String,
}

/// Services of the production compose files (files with "prod" in the
/// name; every compose file when there is none).
fn prod_compose_services(ctx: &Ctx) -> Vec<Service> {
    let compose: Vec<&SourceFile> = ctx.repo.matching(is_compose).collect();
    let prod: Vec<&SourceFile> = compose
        .iter()
        .copied()
        .filter(|f| file_name(&f.path).contains("prod"))
        .collect();
    let files = if prod.is_empty() { compose } else { prod };
    files.into_iter().flat_map(services_of).collect()
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn services_of(f: &SourceFile) -> Vec<Service> {
    let lines: Vec<&str> = f.text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "services:") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut svc_indent = None;
    let mut i = start + 1;
    while i < lines.len() {
        let l = lines[i];
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            i += 1;
            continue;
        }
        let ind = indent(l);
        if ind == 0 {
            break;
        }
        let si = *svc_indent.get_or_insert(ind);
        if ind == si && l.trim_end().ends_with(':') {
            let name = l.trim().trim_end_matches(':').to_string();
            let mut j = i + 1;
            while j < lines.len()
                && (lines[j].trim().is_empty()
                    || lines[j].trim_start().starts_with('#')
                    || indent(lines[j]) > si)
            {
                j += 1;
            }
            let mut block = lines[i + 1..j].join("\n");
            for c in rx!(r"<<:\s*\*([\w-]+)").captures_iter(&lines[i + 1..j].join("\n")) {
                block.push('\n');
                block.push_str(&anchor(&lines, &c[1]));
            }
            out.push(Service {
                name,
                at: ev(&f.path, i + 1, l),
                block,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn anchor(lines: &[&str], name: &str) -> String {
    let mark = format!("&{name}");
    let Some(k) = lines
        .iter()
        .position(|l| l.split_whitespace().any(|w| w == mark))
    else {
        return String::new();
    };
    let base = indent(lines[k]);
    let mut out = vec![lines[k]];
    out.extend(
        lines[k + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > base),
    );
    out.join("\n")
}

fn every_service(ctx: &Ctx, re: &Regex, what: &str, skip_one_offs: bool) -> Outcome {
    let services = prod_compose_services(ctx);
    if services.is_empty() {
        return gap("no compose file for production");
    }
    let services: Vec<&Service> = services
        .iter()
        .filter(|s| {
            !(skip_one_offs
                && (s.block.contains("profiles:")
                    || rx!(r#"restart:\s*["']?no\b"#).is_match(&s.block)))
        })
        .collect();
    let missing: Vec<&&Service> = services.iter().filter(|s| !re.is_match(&s.block)).collect();
    if missing.is_empty() {
        let first = services.first().map(|s| s.at.clone());
        return Pass(
            first.into_iter().collect(),
            format!("{what} on all {} services", services.len()),
        );
    }
    Gap(
        missing.iter().map(|s| s.at.clone()).collect(),
        format!(
            "{what} missing on {}",
            missing
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

fn cmp_cap_drop(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        rx!(r#"cap_drop:\s*(\[\s*["']?ALL["']?\s*\]|\n\s*-\s*["']?ALL["']?)"#),
        "cap_drop ALL",
        false,
    )
}
fn cmp_nnp(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        rx!(r"no-new-privileges(:true)?"),
        "no-new-privileges",
        false,
    )
}
fn cmp_read_only(ctx: &Ctx) -> Outcome {
    every_service(ctx, rx!(r"read_only:\s*true"), "read_only: true", false)
}
fn cmp_limits(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        rx!(r"(mem_limit:\s*\S|limits:\s*\n(\s+.*\n)*?\s+memory:\s*\S)"),
        "a memory limit",
        false,
    )
}
fn cmp_health(ctx: &Ctx) -> Outcome {
    every_service(
        ctx,
        rx!(r"healthcheck:\s*\n\s+(test|interval)"),
        "a healthcheck",
        true,
    )
}
fn cmp_privileged(ctx: &Ctx) -> Outcome {
    let services = prod_compose_services(ctx);
    if services.is_empty() {
        return gap("no compose file for production");
    }
    let bad = ctx.repo.grep(
        is_compose,
        rx!(r"(privileged:\s*true|/var/run/docker\.sock|network_mode:\s*['\x22]?host|pid:\s*['\x22]?host)"),
    );
    if bad.is_empty() {
        Pass(
            Vec::new(),
            format!("none of {} services is privileged", services.len()),
        )
    } else {
        Gap(bad, "a container can take over the host".into())
    }
}

// --- Encryption -----------------------------------------------------------

fn enc_postgres(ctx: &Ctx) -> Outcome {
    let Some(why) = &ctx.postgres else {
        return Na("no Postgres found".into());
    };
    let off = ctx.repo.grep(is_tf, rx!(r"storage_encrypted\s*=\s*false"));
    if !off.is_empty() {
        return Gap(off, "database storage is not encrypted".into());
    }
    match ctx.repo.first(is_tf, rx!(r"storage_encrypted\s*=\s*true")) {
        Some(e) => pass(e, "RDS storage is encrypted"),
        None => gap(format!(
            "uses Postgres ({why}) but no Terraform sets storage_encrypted = true"
        )),
    }
}

fn enc_redis(ctx: &Ctx) -> Outcome {
    let Some(why) = &ctx.redis else {
        return Na("no Redis found".into());
    };
    if let Some(e) = ctx.repo.first(
        is_tf,
        rx!(r#"resource\s+"aws_elasticache_serverless_cache""#),
    ) {
        return pass(e, "ElastiCache Serverless is always encrypted");
    }
    let rest = ctx
        .repo
        .first(is_tf, rx!(r"at_rest_encryption_enabled\s*=\s*true"));
    let transit = ctx
        .repo
        .first(is_tf, rx!(r"transit_encryption_enabled\s*=\s*true"));
    match (rest, transit) {
        (Some(a), Some(b)) => Pass(
            vec![a, b],
            "ElastiCache is encrypted at rest and in transit".into(),
        ),
        (Some(_), None) => gap("at-rest encryption is on, in-transit encryption is not"),
        (None, Some(_)) => gap("in-transit encryption is on, at-rest encryption is not"),
        (None, None) => gap(format!(
            "uses Redis ({why}) but no Terraform sets at_rest_encryption_enabled"
        )),
    }
}

fn enc_buckets(ctx: &Ctx) -> Outcome {
    let buckets = ctx.repo.grep(is_tf, rx!(r#"resource\s+"aws_s3_bucket"\s"#));
    if buckets.is_empty() {
        return Na("no S3 buckets in Terraform".into());
    }
    match ctx.repo.first(
        is_tf,
        rx!(r#"resource\s+"aws_s3_bucket_server_side_encryption_configuration""#),
    ) {
        Some(e) => pass(e, "bucket objects are encrypted server-side"),
        None => Gap(
            buckets,
            "buckets have no server-side encryption configuration".into(),
        ),
    }
}

// --- Redis ----------------------------------------------------------------

fn redis_persistent_or_na(ctx: &Ctx) -> Result<(), Outcome> {
    if ctx.redis.is_none() {
        return Err(Na("no Redis found".into()));
    }
    if let Some(e) = &ctx.redis_cache {
        return Err(Na(format!(
            "Redis is a cache that can be rebuilt ({}:{} {})",
            e.file, e.line, e.text
        )));
    }
    Ok(())
}

fn redis_aof(ctx: &Ctx) -> Outcome {
    let on = ctx
        .repo
        .first(is_redis_conf, rx!(r"^\s*appendonly\s+yes"))
        .or_else(|| {
            ctx.repo
                .first(is_compose, rx!(r"--appendonly[\s\x22',]+yes"))
        });
    if let Some(e) = on {
        return pass(e, "every write is logged (AOF)");
    }
    if let Err(o) = redis_persistent_or_na(ctx) {
        return o;
    }
    gap("Redis holds data that must survive a restart, but appendonly yes is not set")
}

fn redis_rdb(ctx: &Ctx) -> Outcome {
    if let Some(e) = ctx
        .repo
        .first(is_redis_conf, rx!(r#"^\s*save\s+\d+\s+\d+"#))
    {
        return pass(e, "RDB snapshots are taken");
    }
    if let Err(o) = redis_persistent_or_na(ctx) {
        return o;
    }
    gap("no RDB save points")
}

fn redis_policy(ctx: &Ctx) -> Outcome {
    if ctx.redis.is_none() {
        return Na("no Redis found".into());
    }
    let mem = ctx.repo.first(is_redis_conf, rx!(r"^\s*maxmemory\s+\d+"));
    let policy = ctx
        .repo
        .first(is_redis_conf, rx!(r"^\s*maxmemory-policy\s+\S+"));
    match (mem, policy) {
        (Some(m), Some(p)) => Pass(vec![m, p], "memory is capped with a chosen policy".into()),
        _ => gap("no redis.conf with maxmemory and maxmemory-policy"),
    }
}

// --- Backups --------------------------------------------------------------

fn backup_scripts<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo
        .matching(is_script)
        // A backup script runs a dump tool on a line of code, not in a
        // comment or a message (verify/restore scripts mention pg_dump).
        .filter(|f| {
            rx!(r#"(?m)^[^#\n]*\b(pg_dump|pg_basebackup|BGSAVE|wal-g|pgbackrest)\b|(?m)^[^#\n]*\s--rdb\b"#)
                .is_match(&f.text)
        })
        .collect()
}

fn bk_postgres(ctx: &Ctx) -> Outcome {
    if ctx.postgres.is_none() {
        return Na("no Postgres found".into());
    }
    if let Some(e) = ctx.repo.first(
        is_script,
        rx!(r"\b(pg_dump|pg_basebackup|wal-g|pgbackrest)\b"),
    ) {
        return pass(e, "the database is dumped by a script");
    }
    gap("no backup script (pg_dump) for the database")
}

fn bk_restore_test(ctx: &Ctx) -> Outcome {
    if ctx.postgres.is_none() {
        return Na("no Postgres found".into());
    }
    let test = ctx.repo.matching(is_script).find(|f| {
        rx!(r"\bpg_restore\b|\bpsql\b.*<").is_match(&f.text)
            && rx!(r"(?i)\bcreatedb\b|CREATE DATABASE").is_match(&f.text)
            && rx!(r"(?i)\bdropdb\b|DROP DATABASE").is_match(&f.text)
    });
    match test {
        Some(f) => pass(
            grep_file(f, rx!(r"\bpg_restore\b|\bpsql\b.*<")).remove(0),
            "a script restores a backup into a scratch database and checks it",
        ),
        None => {
            let restore = ctx.repo.grep(is_script, rx!(r"\bpg_restore\b"));
            if restore.is_empty() {
                gap("no restore script, and no test that a backup restores")
            } else {
                Gap(
                    restore,
                    "backups can be restored but nothing tests it on a scratch database".into(),
                )
            }
        }
    }
}

fn bk_redis(ctx: &Ctx) -> Outcome {
    if let Err(o) = redis_persistent_or_na(ctx) {
        return o;
    }
    match ctx.repo.first(is_script, rx!(r"BGSAVE|--rdb\b")) {
        Some(e) => pass(e, "Redis snapshots are copied off the host"),
        None => gap("Redis holds data that must survive, but no script backs it up"),
    }
}

fn bk_encrypted(ctx: &Ctx) -> Outcome {
    let needs = ctx.postgres.is_some() || redis_persistent_or_na(ctx).is_ok();
    if !needs {
        return Na("no data store that needs backups".into());
    }
    let scripts = backup_scripts(ctx);
    if scripts.is_empty() {
        return gap("no backup scripts");
    }
    let enc = rx!(
        r"\bage\b.*\s(-r|-R|--recipient)|\bgpg\b.*--(encrypt|recipient)|openssl\s+(smime|cms)\s+-encrypt"
    );
    let missing: Vec<&&SourceFile> = scripts.iter().filter(|f| !enc.is_match(&f.text)).collect();
    if missing.is_empty() {
        let proof = scripts
            .iter()
            .filter_map(|f| grep_file(f, enc).into_iter().next())
            .collect();
        return Pass(
            proof,
            "dumps are encrypted to a public key before they leave the host".into(),
        );
    }
    Gap(
        missing
            .iter()
            .map(|f| ev(&f.path, 1, f.text.lines().next().unwrap_or("")))
            .collect(),
        "backups leave the host unencrypted".into(),
    )
}

// --- Alerts ---------------------------------------------------------------

fn rule_files<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo
        .matching(is_yaml)
        .filter(|f| {
            rx!(r"(?m)^groups:").is_match(&f.text)
                && rx!(r"(?m)^\s*-?\s*alert:\s*\S").is_match(&f.text)
        })
        .collect()
}

fn al_rules(ctx: &Ctx) -> Outcome {
    let files = rule_files(ctx);
    if files.is_empty() {
        return gap("no Prometheus alerting rules");
    }
    let alerts: Vec<Evidence> = files
        .iter()
        .flat_map(|f| grep_file(f, rx!(r"^\s*-?\s*alert:\s*\S")))
        .collect();
    Pass(
        alerts.iter().take(1).cloned().collect(),
        format!("{} alerts in {} files", alerts.len(), files.len()),
    )
}

fn al_tests(ctx: &Ctx) -> Outcome {
    let tests: Vec<&SourceFile> = ctx
        .repo
        .matching(is_yaml)
        .filter(|f| {
            rx!(r"(?m)^rule_files:").is_match(&f.text)
                && rx!(r"(?m)^\s*alert_rule_test:|^tests:").is_match(&f.text)
        })
        .collect();
    if tests.is_empty() {
        return gap("no promtool rule tests (rule_files + tests)");
    }
    // Each test must point at rule files that exist.
    let mut broken = Vec::new();
    let paths: BTreeSet<&str> = ctx.repo.files.iter().map(|f| f.path.as_str()).collect();
    for t in &tests {
        let dir = t.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut in_list = false;
        for (i, l) in t.text.lines().enumerate() {
            if l.starts_with("rule_files:") {
                in_list = true;
                continue;
            }
            if in_list {
                match l.trim().strip_prefix("- ") {
                    Some(p) => {
                        let p = p.trim().trim_matches(['"', '\'']);
                        let joined = normalise_join(dir, p);
                        if !p.contains('*') && !paths.contains(joined.as_str()) {
                            broken.push(ev(&t.path, i + 1, l));
                        }
                    }
                    None if l.trim().is_empty() => {}
                    None => in_list = false,
                }
            }
        }
    }
    if !broken.is_empty() {
        return Gap(
            broken,
            "rule tests name rule files that do not exist".into(),
        );
    }
    let proof = tests
        .iter()
        .filter_map(|f| {
            grep_file(f, rx!(r"^\s*-?\s*alertname:|^\s*alert_rule_test:"))
                .into_iter()
                .next()
        })
        .collect();
    Pass(proof, format!("{} promtool test files", tests.len()))
}

fn normalise_join(dir: &str, p: &str) -> String {
    let mut parts: Vec<&str> = if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for seg in p.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn al_runbooks(ctx: &Ctx) -> Outcome {
    let files = rule_files(ctx);
    if files.is_empty() {
        return gap("no alerting rules");
    }
    let mut missing = Vec::new();
    let mut total = 0;
    for f in files {
        let lines: Vec<&str> = f.text.lines().collect();
        let starts: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| rx!(r"^\s*-\s*(alert|record):").is_match(l))
            .map(|(i, _)| i)
            .collect();
        for (n, &s) in starts.iter().enumerate() {
            if !rx!(r"^\s*-\s*alert:").is_match(lines[s]) {
                continue;
            }
            total += 1;
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            if !lines[s..end].iter().any(|l| l.contains("runbook_url")) {
                missing.push(ev(&f.path, s + 1, lines[s]));
            }
        }
    }
    if missing.is_empty() {
        Pass(Vec::new(), format!("all {total} alerts have a runbook_url"))
    } else {
        Gap(missing, "alerts without a runbook_url annotation".into())
    }
}

// --- CI -------------------------------------------------------------------

fn workflows<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo.matching(is_workflow).collect()
}

fn ci_workflow(ctx: &Ctx) -> Outcome {
    if let Some(e) = ctx.repo.first(
        is_workflow,
        rx!(r"^\s*(-\s*)?pull_request\b|^on:.*pull_request"),
    ) {
        return pass(e, "changes are checked before they merge");
    }
    if let Some(f) = ctx.repo.files.iter().find(|f| f.path == ".gitlab-ci.yml") {
        return pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            "GitLab CI runs on changes",
        );
    }
    gap("no CI workflow on pull requests")
}

fn ci_scans(ctx: &Ctx) -> Outcome {
    let scanners = rx!(
        r"(?i)\b(trivy|grype|checkov|tfsec|codeql|snyk|semgrep|osv-scanner|gitleaks|trufflehog|dependency-review|docker scout|pip-audit|npm audit|bandit)\b"
    );
    let found = ctx.repo.grep(is_workflow, scanners);
    if found.is_empty() {
        return gap("CI runs no security scanner (image, IaC, dependencies or secrets)");
    }
    let kinds: BTreeSet<String> = found
        .iter()
        .filter_map(|e| {
            scanners
                .find(&e.text)
                .map(|m| m.as_str().to_ascii_lowercase())
        })
        .collect();
    Pass(
        found.into_iter().take(3).collect(),
        format!(
            "scanners: {}",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

fn ci_permissions(ctx: &Ctx) -> Outcome {
    let files: Vec<&SourceFile> = workflows(ctx)
        .into_iter()
        .filter(|f| f.path != ".gitlab-ci.yml")
        .collect();
    if files.is_empty() {
        return gap("no GitHub workflows");
    }
    let missing: Vec<Evidence> = files
        .iter()
        .filter(|f| !rx!(r"(?m)^permissions:").is_match(&f.text))
        .map(|f| ev(&f.path, 1, f.text.lines().next().unwrap_or("")))
        .collect();
    if missing.is_empty() {
        Pass(
            files
                .iter()
                .filter_map(|f| grep_file(f, rx!(r"^permissions:")).into_iter().next())
                .take(1)
                .collect(),
            format!("all {} workflows set top-level permissions", files.len()),
        )
    } else {
        Gap(
            missing,
            "workflows without top-level permissions get a broad default token".into(),
        )
    }
}

fn ci_pinned(ctx: &Ctx) -> Outcome {
    let uses = ctx.repo.grep(is_workflow, rx!(r"^\s*(-\s*)?uses:\s*\S"));
    let remote: Vec<&Evidence> = uses
        .iter()
        .filter(|e| !e.text.contains("uses: ./") && !e.text.contains("docker://"))
        .collect();
    if remote.is_empty() {
        return if workflows(ctx).is_empty() {
            gap("no GitHub workflows")
        } else {
            Na("no third-party actions".into())
        };
    }
    let sha = rx!(r"@[0-9a-f]{40}\b");
    let bad: Vec<Evidence> = remote
        .iter()
        .filter(|e| !sha.is_match(&e.text))
        .map(|e| (*e).clone())
        .collect();
    if bad.is_empty() {
        Pass(
            remote.into_iter().take(1).cloned().collect(),
            "every action is pinned to a full commit SHA".into(),
        )
    } else {
        Gap(bad, "actions referenced by a movable tag or branch".into())
    }
}

// --- Deploy ---------------------------------------------------------------

fn deploy_files<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    workflows(ctx)
        .into_iter()
        .filter(|f| {
            file_name(&f.path).contains("deploy") || rx!(r"(?m)^\s+environment:").is_match(&f.text)
        })
        .collect()
}

fn dp_workflow(ctx: &Ctx) -> Outcome {
    match deploy_files(ctx).first() {
        Some(f) => pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            "deploys run from CI",
        ),
        None => gap("no deploy workflow"),
    }
}

fn dp_rollback(ctx: &Ctx) -> Outcome {
    if let Some(e) = deploy_files(ctx)
        .iter()
        .find_map(|f| grep_file(f, rx!(r"(?i)roll ?back")).into_iter().next())
    {
        return pass(e, "a failed deploy is rolled back");
    }
    let breaker = ctx.repo.first(is_tf, rx!(r"deployment_circuit_breaker"));
    let rollback = ctx.repo.first(is_tf, rx!(r"^\s*rollback\s*=\s*true"));
    if let (Some(b), Some(r)) = (breaker, rollback) {
        return Pass(vec![b, r], "ECS rolls back a deployment that fails".into());
    }
    gap("no rollback when a deploy fails")
}

fn dp_smoke(ctx: &Ctx) -> Outcome {
    let found = deploy_files(ctx).iter().find_map(|f| {
        grep_file(f, rx!(r"(?i)smoke|curl\b.*health|wget\b.*health"))
            .into_iter()
            .next()
    });
    match found {
        Some(e) => pass(e, "the deploy checks the service answers"),
        None => gap("no smoke test after a deploy"),
    }
}

fn dp_oidc(ctx: &Ctx) -> Outcome {
    let keys = ctx.repo.grep(
        is_workflow,
        rx!(r"aws-access-key-id:|AWS_SECRET_ACCESS_KEY:\s*\$\{\{\s*secrets"),
    );
    if !keys.is_empty() {
        return Gap(keys, "long-lived cloud keys are stored in CI".into());
    }
    let aws = ctx
        .repo
        .first(is_workflow, rx!(r"aws-actions/configure-aws-credentials"));
    let Some(aws) = aws else {
        return if ctx.repo.first(is_tf, rx!(r#"provider\s+"aws""#)).is_some() {
            gap("Terraform targets AWS but no workflow assumes a role through OIDC")
        } else {
            Na("CI does not reach a cloud".into())
        };
    };
    let role = ctx.repo.first(is_workflow, rx!(r"role-to-assume:"));
    let token = ctx.repo.first(is_workflow, rx!(r"id-token:\s*write"));
    match (role, token) {
        (Some(r), Some(t)) => Pass(
            vec![aws, r, t],
            "CI assumes a role with a short-lived OIDC token".into(),
        ),
        _ => gap("configure-aws-credentials without role-to-assume and id-token: write"),
    }
}

// --- IaC ------------------------------------------------------------------

fn iac_present(ctx: &Ctx) -> Outcome {
    if let Some(e) = ctx.repo.first(is_tf, rx!(r#"^\s*(resource|module)\s+""#)) {
        let n = ctx
            .repo
            .grep(is_tf, rx!(r#"^\s*(resource|module)\s+""#))
            .len();
        return pass(e, &format!("{n} Terraform resources and modules"));
    }
    if let Some(f) = ctx
        .repo
        .files
        .iter()
        .find(|f| matches!(file_name(&f.path), "Pulumi.yaml" | "cdk.json"))
    {
        return pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            "infrastructure is code",
        );
    }
    gap("no Terraform (or Pulumi/CDK): the cloud is configured by hand")
}

fn iac_pinned(ctx: &Ctx) -> Outcome {
    if ctx.repo.matching(is_tf).next().is_none() {
        return gap("no Terraform");
    }
    let v = ctx
        .repo
        .first(is_tf, rx!(r#"^\s*required_version\s*=\s*""#));
    let p = ctx.repo.first(is_tf, rx!(r"^\s*required_providers\s*\{"));
    match (v, p) {
        (Some(a), Some(b)) => Pass(
            vec![a, b],
            "Terraform and provider versions are constrained".into(),
        ),
        (None, _) => gap("no required_version"),
        (_, None) => gap("no required_providers"),
    }
}

fn iac_state(ctx: &Ctx) -> Outcome {
    if ctx.repo.matching(is_tf).next().is_none() {
        return gap("no Terraform");
    }
    match ctx.repo.first(
        is_tf,
        rx!(r#"^\s*backend\s+"(s3|gcs|azurerm|remote|http|pg|consul)"|^\s*cloud\s*\{"#),
    ) {
        Some(e) => pass(e, "state is shared and locked remotely"),
        None => gap("Terraform state is local: it is lost with the laptop that ran apply"),
    }
}

// --- Environments ---------------------------------------------------------

fn tfvars_envs(ctx: &Ctx) -> Vec<(String, Evidence)> {
    ctx.repo
        .matching(is_tfvars)
        .filter(|f| file_name(&f.path) != "terraform.tfvars")
        .map(|f| {
            let stem = file_name(&f.path).trim_end_matches(".tfvars").to_string();
            (stem, ev(&f.path, 1, f.text.lines().next().unwrap_or("")))
        })
        .collect()
}

fn env_config(ctx: &Ctx) -> Outcome {
    let envs = tfvars_envs(ctx);
    if envs.len() >= 2 {
        return Pass(
            envs.iter().map(|(_, e)| e.clone()).collect(),
            format!(
                "environments: {}",
                envs.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    gap(match envs.len() {
        1 => format!("only one environment ({})", envs[0].0),
        _ => {
            "no per-environment configuration (e.g. staging.tfvars, production.tfvars)".to_string()
        }
    })
}

fn env_deploy(ctx: &Ctx) -> Outcome {
    let files = deploy_files(ctx);
    if files.is_empty() {
        return gap("no deploy workflow");
    }
    let known: Vec<String> = tfvars_envs(ctx).into_iter().map(|(n, _)| n).collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut proof = Vec::new();
    for f in &files {
        let lines: Vec<&str> = f.text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(rest) = l.trim().strip_prefix("environment:") else {
                continue;
            };
            let mut value = rest.trim().to_string();
            if value.is_empty() {
                // environment:\n  name: staging
                if let Some(n) = lines
                    .get(i + 1)
                    .and_then(|n| n.trim().strip_prefix("name:"))
                {
                    value = n.trim().to_string();
                }
            }
            let value = value.trim_matches(['"', '\'']).to_string();
            if value.contains("${{") {
                // An expression: count the environments the file names.
                for k in &known {
                    if f.text.contains(k.as_str()) {
                        names.insert(k.clone());
                    }
                }
            } else if !value.is_empty() {
                names.insert(value);
            }
            proof.push(ev(&f.path, i + 1, l));
        }
    }
    if names.len() >= 2 {
        Pass(
            proof,
            format!(
                "deploys go through {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    } else {
        Gap(
            proof,
            "the deploy does not stage through separate environments".into(),
        )
    }
}

// --- Runbook --------------------------------------------------------------

fn rb_doc(ctx: &Ctx) -> Outcome {
    match ctx.repo.matching(is_runbook).next() {
        Some(f) => pass(
            ev(&f.path, 1, f.text.lines().next().unwrap_or("")),
            "on-call steps are written down",
        ),
        None => gap("no runbook (docs/RUNBOOK.md)"),
    }
}

fn rb_restore(ctx: &Ctx) -> Outcome {
    let books: Vec<&SourceFile> = ctx.repo.matching(is_runbook).collect();
    if books.is_empty() {
        return gap("no runbook");
    }
    match books.iter().find_map(|f| {
        grep_file(f, rx!(r"(?i)\brestor(e|ing)\b"))
            .into_iter()
            .next()
    }) {
        Some(e) => pass(e, "the runbook says how to restore"),
        None => gap("the runbook does not say how to restore from a backup"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    #[test]
    fn compose_services_merge_anchors() {
        let f = file(
            "compose.prod.yaml",
            "x-hard: &hard\n  cap_drop: [ALL]\n  read_only: true\nservices:\n  app:\n    <<: *hard\n    image: a:1\n  db:\n    image: postgres:16\nvolumes:\n  x: {}\n",
        );
        let s = services_of(&f);
        assert_eq!(
            s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["app", "db"]
        );
        assert!(s[0].block.contains("cap_drop"));
        assert!(!s[1].block.contains("cap_drop"));
    }

    #[test]
    fn secret_values_are_found_but_never_shown() {
        let f = file(
            ".env",
            "PORT=3000\nDB_PASSWORD=hunter2\nAPI_KEY=\nTOKEN_FILE=/run/secrets/t\n",
        );
        let e = secret_assignments(&f);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "DB_PASSWORD=…");
        assert_eq!(e[0].line, 2);
    }

    #[test]
    fn join_paths() {
        assert_eq!(
            normalise_join("monitoring/prometheus/tests", "../rules/app.yml"),
            "monitoring/prometheus/rules/app.yml"
        );
        assert_eq!(normalise_join("", "rules.yml"), "rules.yml");
    }
}
