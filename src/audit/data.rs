//! Data stores: encryption at rest, Redis persistence by role, backups
//! and restore tests, for whichever database the repository runs.

use super::facts::Ctx;
use super::probe::Outcome;
use super::walk::*;
use super::{gap, pass};
use Outcome::{Gap, Na, Pass};

const DUMP_TOOLS: &str =
    r"\b(pg_dump|pg_basebackup|wal-g|pgbackrest|mysqldump|mariadb-dump|mongodump|xtrabackup)\b";
const RESTORE_TOOLS: &str = r"\bpg_restore\b|\bpsql\b.*<|\bmysql\b.*<|\bmongorestore\b";

pub fn enc_database(ctx: &Ctx) -> Outcome {
    let Some(store) = &ctx.database else {
        return Na("no database found".into());
    };
    let why = &store.why;
    let off = ctx.repo.grep(is_tf, rx!(r"storage_encrypted\s*=\s*false"));
    if !off.is_empty() {
        return Gap(off, "database storage is not encrypted".into());
    }
    match ctx.repo.first(is_tf, rx!(r"storage_encrypted\s*=\s*true")) {
        Some(e) => pass(e, "RDS storage is encrypted"),
        None => gap(format!(
            "uses a database ({why}) but no Terraform sets storage_encrypted = true"
        )),
    }
}

pub fn enc_redis(ctx: &Ctx) -> Outcome {
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

pub fn enc_buckets(ctx: &Ctx) -> Outcome {
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

fn redis_persistent_or_na(ctx: &Ctx) -> Result<(), Outcome> {
    if ctx.redis.is_none() {
        return Err(Na("no Redis found".into()));
    }
    if let Some(why) = &ctx.redis_ephemeral {
        return Err(Na(format!(
            "Redis holds nothing that must survive a restart ({why})"
        )));
    }
    Ok(())
}

pub fn redis_aof(ctx: &Ctx) -> Outcome {
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

pub fn redis_rdb(ctx: &Ctx) -> Outcome {
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

pub fn redis_policy(ctx: &Ctx) -> Outcome {
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

fn backup_scripts<'a>(ctx: &'a Ctx) -> Vec<&'a SourceFile> {
    ctx.repo
        .matching(is_script)
        // A backup script runs a dump tool on a line of code, not in a
        // comment or a message (verify/restore scripts mention pg_dump).
        .filter(|f| {
            rx!(r#"(?m)^[^#\n]*\b(pg_dump|pg_basebackup|BGSAVE|wal-g|pgbackrest|mysqldump|mariadb-dump|mongodump|xtrabackup)\b|(?m)^[^#\n]*\s--rdb\b"#)
                .is_match(&f.text)
        })
        .collect()
}

pub fn bk_database(ctx: &Ctx) -> Outcome {
    let Some(store) = &ctx.database else {
        return Na("no database found".into());
    };
    if let Some(e) = ctx.repo.first(is_script, rx!(DUMP_TOOLS)) {
        return pass(e, "the database is dumped by a script");
    }
    if let Some(e) = ctx.repo.first(
        is_tf,
        rx!(r#"resource\s+"aws_backup_plan"|backup_retention_period\s*=\s*[1-9]"#),
    ) {
        return pass(e, "AWS keeps automated database backups");
    }
    gap(format!(
        "no backup script ({}) for the database ({})",
        match store.engine {
            "mysql" => "mysqldump",
            "mongo" => "mongodump",
            _ => "pg_dump",
        },
        store.why
    ))
}

pub fn bk_restore_test(ctx: &Ctx) -> Outcome {
    if ctx.database.is_none() {
        return Na("no database found".into());
    }
    let test = ctx.repo.matching(is_script).find(|f| {
        rx!(RESTORE_TOOLS).is_match(&f.text)
            && rx!(r"(?i)\bcreatedb\b|CREATE DATABASE").is_match(&f.text)
            && rx!(r"(?i)\bdropdb\b|DROP DATABASE").is_match(&f.text)
    });
    match test {
        Some(f) => pass(
            grep_file(f, rx!(RESTORE_TOOLS)).remove(0),
            "a script restores a backup into a scratch database and checks it",
        ),
        None => {
            let restore = ctx.repo.grep(is_script, rx!(RESTORE_TOOLS));
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

pub fn bk_redis(ctx: &Ctx) -> Outcome {
    if let Err(o) = redis_persistent_or_na(ctx) {
        return o;
    }
    match ctx.repo.first(is_script, rx!(r"BGSAVE|--rdb\b")) {
        Some(e) => pass(e, "Redis snapshots are copied off the host"),
        None => gap("Redis holds data that must survive, but no script backs it up"),
    }
}

pub fn bk_encrypted(ctx: &Ctx) -> Outcome {
    let needs = ctx.database.is_some() || redis_persistent_or_na(ctx).is_ok();
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
