//! The runbook's commands, run. Every fenced shell block of
//! docs/RUNBOOK.md is found and classified (an unclassified block fails
//! the test); those that can run on one machine run against a real Postgres,
//! with a stand-in `docker` that runs `docker compose exec -T postgres CMD`
//! as CMD here and records stop/start. Commands that need AWS are checked
//! against the Terraform outputs they name. The counts are printed.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::postgres::Postgres;
use common::{init_preset, presets, profile_of, require_tool, write_exec};

/// The fenced `sh` blocks of a Markdown file, dedented to their fence.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in markdown.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        match current.take() {
            None if t == "```sh" => current = Some((indent, String::new())),
            None => {}
            Some((_, body)) if t == "```" => blocks.push(body),
            Some((i, mut body)) => {
                body.push_str(line.get(i..).unwrap_or("").trim_end());
                body.push('\n');
                current = Some((i, body));
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block");
    blocks
}

/// What the test does with a block, by a line it contains.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fate {
    /// Run against the local Postgres with the docker stand-in.
    RunPostgres,
    /// Needs the running compose stack or an image registry.
    NeedsDocker,
    /// Needs an S3 bucket.
    NeedsAws,
}

const BLOCKS: &[(&str, Fate)] = &[
    ("RENAME TO", Fate::RunPostgres),
    ("ALTER ROLE", Fate::RunPostgres),
    (
        "ps                       # what is running",
        Fate::NeedsDocker,
    ),
    ("export APP_IMAGE=", Fate::NeedsDocker),
    ("redis-check-rdb /dev/stdin", Fate::NeedsDocker),
    ("BACKUP_DEST=s3://", Fate::NeedsAws),
    // Run against a Postgres with RDS's roles in tests/cloud/cloud_edge.rs.
    ("GRANT rds_iam", Fate::NeedsAws),
];

fn fate(block: &str) -> Fate {
    let hits: Vec<Fate> = BLOCKS
        .iter()
        .filter(|(marker, _)| block.contains(marker))
        .map(|(_, f)| *f)
        .collect();
    assert_eq!(hits.len(), 1, "classify this runbook block:\n{block}");
    hits[0]
}

/// `docker` for one machine: `compose [-f F]... exec [-T] SERVICE CMD...`
/// runs CMD here; stop/start/up/restart/pull are logged, and stop kills the
/// process recorded in $STATE/SERVICE.pid. Anything else fails loudly.
const FAKE_DOCKER: &str = r#"#!/bin/bash
set -eu
echo "docker $*" >>"$STATE/docker.log"
[ "${1:-}" = compose ] || { echo "docker stand-in: only compose: $*" >&2; exit 64; }
shift
while [ "${1:-}" = -f ]; do shift 2; done
verb="$1"
shift
case "$verb" in
exec)
  [ "$1" = -T ] && shift
  shift # the service: its tools run here
  exec "$@"
  ;;
stop)
  for svc in "$@"; do
    if [ -f "$STATE/$svc.pid" ]; then kill "$(cat "$STATE/$svc.pid")"; fi
  done
  ;;
start | up | restart | pull) ;;
*) echo "docker stand-in: compose $verb is not supported" >&2; exit 64 ;;
esac
"#;

/// An idle session on `db`, as postgres-exporter or a forgotten psql holds.
fn idle_session(pg: &Postgres, db: &str, password: &str, user: &str) -> Child {
    let mut cmd = Command::new(require_tool("psql"));
    pg.env(&mut cmd);
    cmd.env("PGUSER", user)
        .env("PGPASSWORD", password)
        .args(["--no-psqlrc", "-q", "-d", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().expect("psql starts")
}

fn sessions_on(pg: &Postgres, db: &str) -> u32 {
    pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"),
    )
    .parse()
    .unwrap()
}

fn run_block(block: &str, cwd: &Path, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", block]).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_runbooks_shell_blocks_run_or_name_what_they_need() {
    let pg = Postgres::start();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for preset in presets() {
        let profile = profile_of(&preset);
        let run = init_preset(&preset);
        let runbook = run.read("docs/RUNBOOK.md");
        let blocks = shell_blocks(&runbook);
        assert!(blocks.len() >= 3, "{preset}: {} blocks", blocks.len());
        let work = tempfile::tempdir().unwrap();
        let bin = work.path().join("bin");
        let state = work.path().join("state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(work.path().join("secrets")).unwrap();
        write_exec(&bin.join("docker"), FAKE_DOCKER);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );

        let (db, user) = (&profile.postgres.database, &profile.postgres.user);
        let password = "old-password";
        if profile.postgres.enabled {
            // The compose stack's user is Postgres's superuser (POSTGRES_USER).
            pg.psql(
                "postgres",
                &format!("CREATE ROLE \"{user}\" SUPERUSER LOGIN PASSWORD '{password}'"),
            );
            for (name, row) in [(db.clone(), "live"), (format!("{db}_restored"), "restored")] {
                pg.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
                pg.psql(
                    &name,
                    &format!("CREATE TABLE t (v text); INSERT INTO t VALUES ('{row}')"),
                );
            }
        }

        for block in &blocks {
            let f = fate(block);
            *counts.entry(format!("{f:?}")).or_default() += 1;
            if f != Fate::RunPostgres {
                continue;
            }
            assert!(profile.postgres.enabled, "{preset}: {block}");
            let env = vec![
                ("PATH", path.clone()),
                ("STATE", state.display().to_string()),
                ("PGHOST", "127.0.0.1".to_string()),
                ("PGPORT", pg.port.to_string()),
                ("PGSSLMODE", "disable".to_string()),
                ("PGPASSWORD", password.to_string()),
            ];
            if block.contains("RENAME TO") {
                // postgres-exporter's session (stopped by the block) and a
                // forgotten psql (ended by it).
                let mut exporter = idle_session(&pg, db, password, user);
                std::fs::write(
                    state.join("postgres-exporter.pid"),
                    exporter.id().to_string(),
                )
                .unwrap();
                let mut stray = idle_session(&pg, db, password, user);
                let deadline = Instant::now() + Duration::from_secs(20);
                while sessions_on(&pg, db) < 2 {
                    assert!(Instant::now() < deadline, "the sessions never connected");
                    std::thread::sleep(Duration::from_millis(100));
                }
                let out = run_block(block, work.path(), &env);
                let _ = exporter.kill();
                let _ = exporter.wait();
                let _ = stray.kill();
                let _ = stray.wait();
                assert!(
                    out.status.success(),
                    "{preset}: the switch-over failed:\n{block}\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(pg.psql(db, "SELECT v FROM t"), "restored", "{preset}");
                assert_eq!(
                    pg.psql(&format!("{db}_broken"), "SELECT v FROM t"),
                    "live",
                    "{preset}"
                );
                let log = std::fs::read_to_string(state.join("docker.log")).unwrap();
                assert!(log.contains("stop app"), "{preset}: {log}");
                if profile.monitoring.enabled {
                    assert!(log.contains("postgres-exporter"), "{preset}: {log}");
                }
            } else {
                let out = run_block(block, work.path(), &env);
                assert!(
                    out.status.success(),
                    "{preset}: the password rotation failed:\n{block}\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                let new =
                    std::fs::read_to_string(work.path().join("secrets/postgres_password")).unwrap();
                assert!(new.len() >= 40, "{preset}: {new}");
                let mut login = Command::new(require_tool("psql"));
                pg.env(&mut login);
                let ok = login
                    .env("PGUSER", user)
                    .env("PGPASSWORD", &new)
                    .args(["--no-psqlrc", "-Atc", "SELECT 1", "-d", "postgres"])
                    .output()
                    .unwrap();
                assert!(
                    ok.status.success(),
                    "{preset}: the new password does not log in: {}",
                    String::from_utf8_lossy(&ok.stderr)
                );
            }
            *counts.entry("ran".into()).or_default() += 1;
        }
        if profile.postgres.enabled {
            // Runs again for the next preset that shares the names.
            for name in [db.clone(), format!("{db}_broken")] {
                pg.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{name}\""));
            }
            pg.psql("postgres", &format!("DROP ROLE \"{user}\""));
        }

        // What needs AWS names Terraform outputs that exist.
        let outputs = run.read("infra/terraform/outputs.tf");
        for (i, _) in runbook.match_indices(" output -raw ") {
            let name: String = runbook[i + 13..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                outputs.contains(&format!("output \"{name}\" {{")),
                "{preset}: the runbook names the Terraform output {name}, which outputs.tf lacks"
            );
            *counts
                .entry("terraform outputs checked".into())
                .or_default() += 1;
        }
    }
    eprintln!("runbook blocks: {counts:?}");
    assert!(counts.get("ran").copied().unwrap_or(0) >= 2, "{counts:?}");
    assert!(
        counts
            .get("terraform outputs checked")
            .copied()
            .unwrap_or(0)
            >= 3,
        "{counts:?}"
    );
}

/// The Mermaid blocks of a Markdown file.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```mermaid\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap().to_string())
        .collect()
}

/// The node id a Mermaid statement starts with, and the rest of it.
fn leading_id(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Brackets outside quoted labels balance.
fn balanced(s: &str) -> bool {
    let mut stack = Vec::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = stack.pop();
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open != Some(want) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty() && !quoted
}

/// A structural check of the flowcharts, beside the real rendering in
/// tests/validators/architecture_doc.rs (which says whether Mermaid parses them; this
/// says what they mean): a `flowchart` header, subgraphs closed, brackets and
/// quotes balanced, every edge between declared nodes; and the diagram
/// follows the profile.
#[test]
fn the_architecture_diagrams_are_well_formed_and_follow_the_profile() {
    let mut statements = 0;
    for preset in presets() {
        let profile = profile_of(&preset);
        let doc = init_preset(&preset).read("docs/ARCHITECTURE.md");
        let blocks = mermaid_blocks(&doc);
        assert_eq!(blocks.len(), 2, "{preset}: compose and AWS diagrams");
        for block in &blocks {
            let mut lines = block.lines().map(str::trim).filter(|l| !l.is_empty());
            assert_eq!(lines.next(), Some("flowchart LR"), "{preset}:\n{block}");
            let mut declared = std::collections::BTreeSet::new();
            let mut edges = Vec::new();
            let mut depth = 0usize;
            for line in lines {
                statements += 1;
                assert!(balanced(line), "{preset}: unbalanced: {line}");
                if line == "end" {
                    depth = depth.checked_sub(1).expect("an `end` without a subgraph");
                    continue;
                }
                let (line, subgraph) = match line.strip_prefix("subgraph ") {
                    Some(rest) => (rest, true),
                    None => (line, false),
                };
                depth += usize::from(subgraph);
                let (id, rest) = leading_id(line);
                assert!(!id.is_empty(), "{preset}: no id: {line}");
                let rest = rest.trim_start();
                if let Some(edge) = rest
                    .strip_prefix("-->")
                    .or_else(|| rest.strip_prefix("-.->"))
                {
                    let edge = edge.trim_start();
                    let target = match edge.strip_prefix('|') {
                        Some(labelled) => labelled.split_once('|').expect("closed label").1,
                        None => edge,
                    };
                    let (to, decl) = leading_id(target.trim_start());
                    if !decl.is_empty() {
                        declared.insert(to.to_string());
                    }
                    edges.push((id.to_string(), to.to_string()));
                } else {
                    assert!(
                        rest.starts_with('[') || rest.starts_with('(') || rest.is_empty(),
                        "{preset}: not a node, edge or subgraph: {line}"
                    );
                    declared.insert(id.to_string());
                }
            }
            assert_eq!(depth, 0, "{preset}: a subgraph is not closed");
            assert!(!edges.is_empty(), "{preset}: no edges");
            for (from, to) in &edges {
                for id in [from, to] {
                    assert!(declared.contains(id), "{preset}: edge to undeclared {id}");
                }
            }
        }
        let compose = &blocks[0];
        assert_eq!(
            compose.contains("postgres[("),
            profile.postgres.enabled,
            "{preset}"
        );
        assert_eq!(
            compose.contains("redis[("),
            profile.redis.enabled,
            "{preset}"
        );
        assert_eq!(
            compose.contains("worker["),
            profile.worker.enabled,
            "{preset}"
        );
        assert_eq!(
            compose.contains("alertmanager -->|critical| pagerduty"),
            profile.monitoring.enabled,
            "{preset}"
        );
        assert_eq!(
            blocks[1].contains("rds[("),
            profile.postgres.enabled,
            "{preset}"
        );
    }
    eprintln!("mermaid statements checked: {statements}");
}
