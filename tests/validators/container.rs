//! The container files as Docker and Compose will use them: the resolved
//! compose configuration (`docker-compose config`), the Dockerfile's
//! Prisma steps, the .dockerignore patterns under Docker's own matching
//! rules, and the entrypoint the health checks and dev containers rely on,
//! run for real.

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{init_preset, presets, profile_of, require_tool, Run, DOMAIN};
use regex::Regex;
use serde_json::Value;
use shipready::profile::{Profile, Runtime, WorkerKind};

fn uses_prisma(p: &Profile) -> bool {
    p.postgres.enabled && p.postgres.migrate_command.iter().any(|w| w == "prisma")
}

/// `docker-compose -f FILE config --format json` in `run`, with the secret
/// files it names created empty (init-secrets.sh is not run here).
fn compose_config(run: &Run, file: &str) -> Value {
    let root = run.path();
    for line in run.read(file).lines() {
        if let Some(rel) = line.trim().strip_prefix("file: ./") {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if !p.exists() {
                std::fs::write(&p, "").unwrap();
            }
        }
    }
    let out = Command::new(require_tool("docker-compose"))
        .current_dir(root)
        .args(["-f", file, "config", "--format", "json"])
        .output()
        .expect("docker-compose runs");
    assert!(
        out.status.success(),
        "docker-compose config {file}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("compose config prints JSON")
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The environment compose gives `service`, with every /run/secrets/NAME
/// path moved to a file under `secrets_dir` holding "pw-NAME", plus PATH.
fn container_env(
    cfg: &Value,
    service: &str,
    secrets_dir: &Path,
    path: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in cfg["services"][service]["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("{service} has an environment"))
    {
        let mut v = v.as_str().unwrap_or_default().to_string();
        if let Some(name) = v.strip_prefix("/run/secrets/") {
            let f = secrets_dir.join(name);
            std::fs::write(&f, format!("pw-{name}")).unwrap();
            v = f.to_string_lossy().into_owned();
        }
        env.insert(k.clone(), v);
    }
    env.insert("PATH".into(), path.into());
    env
}

/// Run `sh -c script` with exactly `env`; stdout, panicking on failure.
fn sh(script: &str, env: &BTreeMap<String, String>, cwd: &Path) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "sh -c {script:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory to put first on PATH, holding the rendered entrypoint under
/// its image name and `extra` (name, script) executables.
fn bin_dir(run: &Run, extra: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![(
        "docker-entrypoint.sh".to_string(),
        run.read("docker-entrypoint.sh"),
    )];
    files.extend(extra.iter().map(|(n, s)| (n.to_string(), s.clone())));
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn networks_of(cfg: &Value, service: &str) -> Vec<String> {
    cfg["services"][service]["networks"]
        .as_object()
        .unwrap_or_else(|| panic!("{service} lists networks"))
        .keys()
        .cloned()
        .collect()
}

fn is_internal(cfg: &Value, network: &str) -> bool {
    cfg["networks"][network]["internal"].as_bool() == Some(true)
}

#[test]
fn the_worker_can_reach_outside_apis_like_the_app() {
    let mut seen = 0;
    for preset in presets() {
        if !profile_of(&preset).worker.enabled {
            continue;
        }
        seen += 1;
        let run = init_preset(&preset);
        let cfg = compose_config(&run, "compose.prod.yaml");
        let app_out: Vec<String> = networks_of(&cfg, "app")
            .into_iter()
            .filter(|n| !is_internal(&cfg, n))
            .collect();
        assert!(!app_out.is_empty(), "{preset}: the app has a route out");
        let worker = networks_of(&cfg, "worker");
        for n in &app_out {
            assert!(
                worker.contains(n),
                "{preset}: the worker calls outside APIs but is not on {n}: {worker:?}"
            );
        }
        // Still on the data network, still publishing nothing.
        assert!(worker.contains(&"backend".to_string()), "{preset}");
        assert!(cfg["services"]["worker"]["ports"].is_null(), "{preset}");
    }
    assert!(seen > 0, "no preset has a worker");
}

#[test]
fn the_celery_health_check_runs_through_the_entrypoint_in_dev_and_production() {
    let preset = "fastapi-three-tier";
    let p = profile_of(preset);
    assert_eq!(p.worker.kind, WorkerKind::Celery);
    let run = init_preset(preset);
    assert!(
        run.read("Dockerfile")
            .contains("docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh"),
        "the entrypoint is on PATH in the image"
    );
    let python = require_tool("python3");
    for file in ["compose.yaml", "compose.prod.yaml"] {
        let cfg = compose_config(&run, file);
        let test = str_list(&cfg["services"]["worker"]["healthcheck"]["test"]);
        assert_eq!(test.len(), 2, "{file}: {test:?}");
        assert_eq!(test[0], "CMD-SHELL", "{file}: {test:?}");
        assert!(
            test[1].starts_with("docker-entrypoint.sh celery "),
            "{file}: a health check is a docker exec, which skips ENTRYPOINT: {test:?}"
        );
        // What the container's shell runs: compose turns `$$` into `$`.
        let script = test[1].replace("$$", "$");
        // A stand-in celery that reports what it was given, and `python`
        // (the image's name for it) for the entrypoint's URL building.
        let bins = bin_dir(
            &run,
            &[
                (
                    "celery",
                    "#!/bin/sh\necho \"REDIS_URL=${REDIS_URL:-}\"\necho \"ARGS=$*\"\n".into(),
                ),
                (
                    "python",
                    format!("#!/bin/sh\nexec {} \"$@\"\n", python.display()),
                ),
            ],
        );
        let secrets = tempfile::tempdir().unwrap();
        let mut env = container_env(
            &cfg,
            "worker",
            secrets.path(),
            &format!("{}:/usr/bin:/bin", bins.path().display()),
        );
        env.insert("HOSTNAME".into(), "c0ffee123456".into());
        let out = sh(&script, &env, run.path());
        assert!(
            out.contains("REDIS_URL=redis://worker:pw-redis_worker_password@redis:6379/0"),
            "{file}: celery gets the REDIS_URL the entrypoint builds:\n{out}"
        );
        assert!(
            out.contains(&format!(
                "ARGS=-A {} inspect ping --timeout 5 --destination celery@c0ffee123456",
                "app.worker"
            )),
            "{file}: pings this container's own node:\n{out}"
        );
    }
}

#[test]
fn dev_containers_ignore_host_database_and_redis_urls_from_dot_env() {
    let node = require_tool("node");
    let node_dir = node.parent().unwrap().display().to_string();
    let mut seen = 0;
    for preset in presets() {
        let p = profile_of(&preset);
        if !p.postgres.enabled && !p.redis.enabled {
            continue;
        }
        seen += 1;
        let run = init_preset(&preset);
        // What a Prisma project's .env holds for runs on the host.
        std::fs::write(
            run.path().join(".env"),
            "DATABASE_URL=postgresql://me:hostpw@localhost:5432/mine\nREDIS_URL=redis://localhost:6379/0\n",
        )
        .unwrap();
        let cfg = compose_config(&run, "compose.yaml");
        let mut services = vec!["app"];
        if p.worker.enabled {
            services.push("worker");
        }
        for service in services {
            let env = &cfg["services"][service]["environment"];
            if p.postgres.enabled {
                assert_eq!(env["DATABASE_URL"], "", "{preset}/{service}: {env}");
            }
            if p.redis.enabled {
                assert_eq!(env["REDIS_URL"], "", "{preset}/{service}: {env}");
            }
            if p.service.runtime != Runtime::Node {
                continue;
            }
            // Empty is unset for the entrypoint: it builds the container's own.
            let bins = bin_dir(&run, &[]);
            let secrets = tempfile::tempdir().unwrap();
            let env = container_env(
                &cfg,
                service,
                secrets.path(),
                &format!("{}:{node_dir}:/usr/bin:/bin", bins.path().display()),
            );
            let out = sh(
                "docker-entrypoint.sh sh -c 'echo \"DATABASE_URL=${DATABASE_URL:-}\"; echo \"REDIS_URL=${REDIS_URL:-}\"'",
                &env,
                run.path(),
            );
            if p.postgres.enabled {
                let want = format!(
                    "DATABASE_URL=postgresql://{0}:pw-postgres_password@postgres:5432/{1}?sslmode=disable",
                    p.postgres.user, p.postgres.database
                );
                assert!(out.contains(&want), "{preset}/{service}:\n{out}");
            }
            if p.redis.enabled {
                // Each logs in as its own ACL user.
                let user = if service == "worker" { "worker" } else { "app" };
                assert!(
                    out.contains(&format!(
                        "REDIS_URL=redis://{user}:pw-redis_{user}_password@redis:6379/0"
                    )),
                    "{preset}/{service}:\n{out}"
                );
            }
        }
        // Production reads no .env at all.
        let prod = compose_config(&run, "compose.prod.yaml");
        let env = &prod["services"]["app"]["environment"];
        assert!(
            env["DATABASE_URL"].is_null() && env["REDIS_URL"].is_null(),
            "{preset}: {env}"
        );
    }
    assert!(seen > 0);
}

#[test]
fn env_example_shows_host_urls_commented_and_without_secrets() {
    for preset in presets() {
        let p = profile_of(&preset);
        let run = init_preset(&preset);
        let env = run.read(".env.example");
        let set: Vec<&str> = env
            .lines()
            .filter(|l| l.starts_with("DATABASE_URL=") || l.starts_with("REDIS_URL="))
            .collect();
        assert!(
            set.is_empty(),
            "{preset}: set, they would reach the dev containers' env_file: {set:?}"
        );
        if p.postgres.enabled {
            let want = format!(
                "# DATABASE_URL=postgresql://{}:<password>@127.0.0.1:5432/{}?sslmode=disable",
                p.postgres.user, p.postgres.database
            );
            assert!(env.contains(&want), "{preset}:\n{env}");
        }
        if p.redis.enabled {
            assert!(
                env.contains("# REDIS_URL=redis://app:<password>@127.0.0.1:6379/0"),
                "{preset}:\n{env}"
            );
        }
        // The header must not suggest that *_FILE works on the host by itself.
        let header: String = env.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(
            !header.contains("Copy to .env for local runs outside containers"),
            "{preset}: {header}"
        );
        assert!(
            header.contains("Only docker-entrypoint.sh reads the *_FILE"),
            "{preset}: {header}"
        );
    }
}

/// A .dockerignore under Docker's rules (moby/patternmatcher, as BuildKit
/// uses it): patterns are cleaned and rooted at the context, `*` and `?`
/// stop at `/`, `**` spans directories (zero included), a pattern that
/// matches a parent directory excludes what is under it, and the last
/// matching pattern wins, `!` re-including.
struct DockerIgnore(Vec<(bool, Regex)>);

impl DockerIgnore {
    fn parse(text: &str) -> DockerIgnore {
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pat = pat.trim_start_matches("./").trim_start_matches('/');
            let pat = pat.trim_end_matches('/');
            let mut re = String::from("^");
            let chars: Vec<char> = pat.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                match chars[i] {
                    '*' if chars.get(i + 1) == Some(&'*') => {
                        i += 1;
                        if chars.get(i + 1) == Some(&'/') {
                            i += 1;
                        }
                        re += if i + 1 >= chars.len() { ".*" } else { "(.*/)?" };
                    }
                    '*' => re += "[^/]*",
                    '?' => re += "[^/]",
                    c @ ('.' | '$' | '+' | '(' | ')' | '{' | '}' | '|' | '^') => {
                        re.push('\\');
                        re.push(c);
                    }
                    c => re.push(c),
                }
                i += 1;
            }
            re.push('$');
            out.push((exclusion, Regex::new(&re).unwrap()));
        }
        DockerIgnore(out)
    }

    fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for (exclusion, re) in &self.0 {
            if *exclusion != matched {
                continue;
            }
            let hit =
                re.is_match(path) || (1..parts.len()).any(|n| re.is_match(&parts[..n].join("/")));
            if hit {
                matched = !exclusion;
            }
        }
        matched
    }
}

#[test]
fn the_docker_ignore_matcher_follows_docker() {
    // Docker's documented examples, so the rules below are Docker's.
    let d = DockerIgnore::parse("*/temp*\n*/*/temp*\ntemp?\n**/*.go\n*.md\n!README*.md\n");
    assert!(d.excludes("somedir/temporary.txt"));
    assert!(d.excludes("somedir/subdir/temp"));
    assert!(d.excludes("tempa"));
    assert!(d.excludes("main.go") && d.excludes("a/b/main.go"));
    assert!(d.excludes("CHANGES.md") && !d.excludes("README-secret.md"));
    assert!(!d.excludes("docs/CHANGES.md"), "no **/: the root only");
    let root_only = DockerIgnore::parse(".env\nnode_modules/\n");
    assert!(root_only.excludes(".env") && !root_only.excludes("app/.env"));
    assert!(root_only.excludes("node_modules/x/index.js"));
    assert!(!root_only.excludes("web/node_modules/x/index.js"));
}

#[test]
fn dockerignore_keeps_secrets_and_dependencies_out_at_any_depth() {
    for preset in presets() {
        let p = profile_of(&preset);
        let run = init_preset(&preset);
        let d = DockerIgnore::parse(&run.read(".dockerignore"));
        let mut out: Vec<String> = [
            ".env",
            ".env.local",
            "app/.env",
            "services/api/.env.production",
            "server.pem",
            "certs/tls/server.key",
            "config/dev.pem",
            "secrets/postgres_password",
            "infra/terraform/main.tf",
            "infra/terraform/terraform.tfstate",
            "old/terraform.tfstate.backup",
            "modules/x/.terraform/providers/p",
            ".git/HEAD",
            "compose.prod.yaml",
        ]
        .map(String::from)
        .to_vec();
        let mut kept = vec![".env.example", "app/.env.example"];
        if p.service.runtime == Runtime::Node {
            out.extend(
                [
                    "node_modules/express/index.js",
                    "packages/web/node_modules/react/index.js",
                    "packages/web/npm-debug.log",
                    ".next/cache/webpack/x.pack",
                ]
                .map(String::from),
            );
            kept.extend(["package.json", "package-lock.json", "src/server.js"]);
        } else {
            out.extend(
                [
                    "__pycache__/main.cpython-312.pyc",
                    "app/__pycache__/main.cpython-312.pyc",
                    "app/models.pyc",
                    "app/legacy/util.pyo",
                    ".venv/bin/python",
                    "backend/.venv/lib/site.py",
                    "app/.pytest_cache/v/x",
                    "app/.mypy_cache/x.json",
                    // The front end's dependencies.
                    "node_modules/react/index.js",
                    "frontend/node_modules/react/index.js",
                ]
                .map(String::from),
            );
            kept.extend(["requirements.txt", "app/main.py", "app/worker.py"]);
            if !p.service.static_dir.is_empty() {
                // nginx serves the built front end from the host.
                out.push(format!("{}/index.html", p.service.static_dir));
                out.push(format!("{}/assets/app.js", p.service.static_dir));
            }
        }
        for path in &out {
            assert!(
                d.excludes(path),
                "{preset}: {path} reaches the build context"
            );
        }
        for path in kept {
            assert!(
                !d.excludes(path),
                "{preset}: {path} is left out of the image"
            );
        }
    }
}

/// The Dockerfile's stages, by name.
fn stages(dockerfile: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut name = String::new();
    for line in dockerfile.lines() {
        if let Some(rest) = line.strip_prefix("FROM ") {
            name = rest.rsplit(" AS ").next().unwrap().trim().to_string();
        }
        if !name.is_empty() {
            let s: &mut String = out.entry(name.clone()).or_default();
            s.push_str(line);
            s.push('\n');
        }
    }
    out
}

#[test]
fn prisma_images_get_openssl_a_generated_client_and_keep_the_migration_cli() {
    let node = require_tool("node");
    let node_script = Regex::new(r"node -e '([^']*)'").unwrap();
    let mut prisma_presets = 0;
    for preset in presets() {
        let p = profile_of(&preset);
        if p.service.runtime != Runtime::Node {
            continue;
        }
        let run = init_preset(&preset);
        let dockerfile = run.read("Dockerfile");
        let st = stages(&dockerfile);
        let (base, build) = (&st["base"], &st["build"]);
        if !uses_prisma(&p) {
            assert!(
                !dockerfile.contains("apt-get") && !dockerfile.contains("prisma"),
                "{preset}: Prisma steps without Prisma:\n{dockerfile}"
            );
            continue;
        }
        prisma_presets += 1;
        // OpenSSL in the base stage, so both the build (prisma generate)
        // and the runtime (the engines) have it.
        assert!(
            base.contains("apt-get install -y --no-install-recommends openssl")
                && base.contains("rm -rf /var/lib/apt/lists/*"),
            "{preset}:\n{base}"
        );
        // The DL3008 exception says why.
        let before_ignore = base.split("# hadolint ignore=DL3008").next().unwrap();
        assert!(
            base.contains("# hadolint ignore=DL3008") && before_ignore.contains("(DL3008)"),
            "{preset}: an unexplained hadolint exception:\n{base}"
        );
        // prisma generate after the sources arrive, before the build.
        let at = |s: &str| {
            build
                .find(s)
                .unwrap_or_else(|| panic!("{preset}: no {s:?} in\n{build}"))
        };
        assert!(at("COPY . .") < at("RUN npx prisma generate"), "{preset}");
        assert!(
            at("RUN npx prisma generate") < at("npm run build"),
            "{preset}"
        );
        assert!(at("node -e") < at("npm prune --omit=dev"), "{preset}");
        assert!(
            at("npm prune --omit=dev") < at("test -x node_modules/.bin/prisma"),
            "{preset}"
        );
        // The package.json edit, run as written: the CLI moves from
        // devDependencies to dependencies, nothing else changes, and a
        // package.json that already has it there is left alone.
        let script = node_script
            .captures(build)
            .unwrap_or_else(|| panic!("{preset}: no node -e script"))[1]
            .to_string();
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("package.json");
        for (before, after) in [
            (
                r#"{"name":"x","dependencies":{"@prisma/client":"6.16.2"},"devDependencies":{"prisma":"6.16.2","typescript":"5.6.3"}}"#,
                r#"{"name":"x","dependencies":{"@prisma/client":"6.16.2","prisma":"6.16.2"},"devDependencies":{"typescript":"5.6.3"}}"#,
            ),
            (
                r#"{"name":"x","dependencies":{"prisma":"6.16.2"}}"#,
                r#"{"name":"x","dependencies":{"prisma":"6.16.2"}}"#,
            ),
            (
                r#"{"name":"x","devDependencies":{"prisma":"^6.1.0"}}"#,
                r#"{"name":"x","dependencies":{"prisma":"^6.1.0"},"devDependencies":{}}"#,
            ),
        ] {
            std::fs::write(&pkg, before).unwrap();
            let out = Command::new(&node)
                .current_dir(dir.path())
                .args(["-e", &script])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Value = serde_json::from_str(&std::fs::read_to_string(&pkg).unwrap()).unwrap();
            let want: Value = serde_json::from_str(after).unwrap();
            assert_eq!(got, want, "{preset}: from {before}");
        }
        // hadolint passes this Dockerfile in tests/validators/validators.rs (verify --strict).
    }
    assert!(
        prisma_presets >= 2,
        "node-dashboard and prisma-voice use Prisma"
    );
}

#[test]
fn app_and_worker_wait_for_healthy_sidecars_checked_alike_in_dev_and_production() {
    // No preset ships a sidecar (it is an image the team builds): one is
    // added to each preset the way a user opts in.
    let sidecar = r#"sidecars=[{ name = "inference", image = "registry.example.com/inference:1.0.0", port = 8080, health_path = "/health", memory_mb = 4096 }]"#;
    let mut seen = 0;
    for preset in presets() {
        let p = profile_of(&preset);
        assert!(p.sidecars.is_empty(), "{preset} ships a sidecar image");
        seen += 1;
        let run = common::init_preset_with(&preset, &[sidecar]);
        let dev = compose_config(&run, "compose.yaml");
        let prod = compose_config(&run, "compose.prod.yaml");
        let name = "inference";
        for (file, cfg) in [("compose.yaml", &dev), ("compose.prod.yaml", &prod)] {
            let mut callers = vec!["app"];
            if p.worker.enabled {
                callers.push("worker");
            }
            for service in callers {
                assert_eq!(
                    cfg["services"][service]["depends_on"][name]["condition"], "service_healthy",
                    "{preset} {file}: {service} on {name}"
                );
            }
            // migrate needs only the database.
            assert!(
                cfg["services"]["migrate"]["depends_on"][name].is_null(),
                "{preset} {file}"
            );
        }
        let check = &prod["services"][name]["healthcheck"];
        assert!(check["test"].is_array(), "{preset}: {check}");
        assert_eq!(
            &dev["services"][name]["healthcheck"], check,
            "{preset}: the dev {name} is checked as in production"
        );
    }
    assert_eq!(seen, presets().len());
}

#[test]
fn nginx_is_restarted_when_the_app_is_recreated() {
    for preset in presets() {
        let run = init_preset(&preset);
        let cfg = compose_config(&run, "compose.prod.yaml");
        let dep = &cfg["services"]["nginx"]["depends_on"]["app"];
        assert_eq!(dep["condition"], "service_healthy", "{preset}: {dep}");
        assert_eq!(
            dep["restart"], true,
            "{preset}: nginx keeps the old app address otherwise: {dep}"
        );
    }
}

#[test]
fn app_and_worker_get_thirty_seconds_to_stop() {
    for preset in presets() {
        let p = profile_of(&preset);
        let run = init_preset(&preset);
        let cfg = compose_config(&run, "compose.prod.yaml");
        let mut services = vec!["app"];
        if p.worker.enabled {
            services.push("worker");
        }
        for service in services {
            assert_eq!(
                cfg["services"][service]["stop_grace_period"], "30s",
                "{preset}: {service}"
            );
        }
    }
}

/// service.writable_dirs (Next.js's .next/cache for node-dashboard): the
/// one place under /app the app may write, everywhere it runs read-only.
/// compose mounts a tmpfs owned by the image's user, the image creates the
/// directory owned by that user (which Fargate copies to the task volume),
/// and ECS mounts a task volume there.
#[test]
fn writable_dirs_are_writable_for_the_app_user_and_nothing_else_is() {
    use common::init_preset_with;
    let cases = [
        (
            "node-dashboard",
            vec![],
            vec![".next/cache", ".next/server/route-cache"],
            "10001",
            "10001:10001",
        ),
        (
            "fastapi-three-tier",
            vec![r#"service.writable_dirs=["var/cache", "uploads"]"#],
            vec!["var/cache", "uploads"],
            "10001",
            "10001:10001",
        ),
    ];
    for (preset, sets, dirs, uid, owner) in cases {
        let run = init_preset_with(preset, &sets);
        let cfg = compose_config(&run, "compose.prod.yaml");
        let services: Vec<&str> = if profile_of(preset).worker.enabled {
            vec!["app", "worker"]
        } else {
            vec!["app"]
        };
        for service in services {
            let svc = &cfg["services"][service];
            assert_eq!(svc["read_only"], true, "{preset} {service}");
            let tmpfs = str_list(&svc["tmpfs"]);
            for d in &dirs {
                let want = format!("/app/{d}:uid={uid},gid={uid},mode=0700,size=256m");
                assert!(
                    tmpfs.contains(&want),
                    "{preset} {service}: no {want} in {tmpfs:?}"
                );
            }
            assert_eq!(tmpfs.len(), dirs.len() + 1, "{preset} {service}: {tmpfs:?}");
        }
        let runtime = stages(&run.read("Dockerfile"))["runtime"].clone();
        let list = dirs.join(" ");
        assert!(
            runtime.contains(&format!(
                "RUN mkdir -p {list} \\\n && chown {owner} {list}\n"
            )),
            "{preset}: the image does not create {list} for {owner}:\n{runtime}"
        );
        let chown_at = runtime.find("chown").unwrap();
        assert!(
            chown_at < runtime.find("\nUSER ").unwrap(),
            "{preset}: chown after USER"
        );
        let ecs = run.read("infra/terraform/ecs.tf");
        for (i, d) in dirs.iter().enumerate() {
            assert!(ecs.contains(&format!(
                "{{ sourceVolume = \"writable-{}\", containerPath = \"/app/{d}\", readOnly = false }}",
                i + 1
            )));
            assert!(ecs.contains(&format!("    name = \"writable-{}\"", i + 1)));
        }
    }

    // Without writable_dirs only /tmp is writable, and the image is as before.
    let run = init_preset("twilio-voice");
    let cfg = compose_config(&run, "compose.prod.yaml");
    assert_eq!(str_list(&cfg["services"]["app"]["tmpfs"]).len(), 1);
    assert!(!run.read("Dockerfile").contains("chown"));
    assert!(!run.read("infra/terraform/ecs.tf").contains("writable-"));

    // A path out of /app is refused before anything is written.
    let bad_run = common::Run::new().args([
        "init",
        "--preset",
        "node-dashboard",
        "--set",
        &format!("domain={DOMAIN}"),
        "--set",
        r#"service.writable_dirs=["../etc"]"#,
    ]);
    let bad = bad_run.run();
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("service.writable_dirs[0] = \"../etc\""),
        "{}",
        bad.stderr
    );
    assert!(std::fs::read_dir(bad_run.path()).unwrap().next().is_none());
}

/// Twilio's SharedKey secret reaches the app like the auth token: from a
/// file named by TWILIO_WEBHOOK_SHARED_KEY_FILE, which the entrypoint reads
/// and unsets.
#[test]
fn the_entrypoint_reads_the_twilio_shared_key_from_its_file() {
    let run = init_preset("twilio-voice");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("twilio_webhook_shared_key");
    std::fs::write(&key, "shared-secret").unwrap();
    let out = std::process::Command::new("sh")
        .arg(run.path().join("docker-entrypoint.sh"))
        .args([
            "sh",
            "-c",
            "echo \"key=$TWILIO_WEBHOOK_SHARED_KEY file=${TWILIO_WEBHOOK_SHARED_KEY_FILE:-unset}\"",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TWILIO_WEBHOOK_SHARED_KEY_FILE", &key)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "key=shared-secret file=unset");
}
