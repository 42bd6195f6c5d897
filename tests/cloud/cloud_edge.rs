//! The cloud path's edge, trust and data pieces, proven by running them:
//! Terraform plans (real CLI and AWS provider, mocked API) that evaluate
//! the deploy role's trust, the CloudFront/ALB pairing, the opt-out and the
//! backup copies; the edge WAF compared rule by rule with the regional one;
//! and the runbook's SQL that creates the app's IAM database user, run
//! against a real Postgres carrying RDS's `rds_iam` role.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::postgres::Postgres;
use common::terraform::terraform;
use common::{profile_of, write_exec};
use serde_json::Value;

const TF_DIR: &str = "infra/terraform";

/// Extra `terraform test` runs, appended to the generated test file's
/// mocks. Each assertion is evaluated by Terraform on the planned values.
const RUNS: &str = r#"
variables {
  image_tag         = "0123456789abcdef0123456789abcdef01234567"
  github_repository = "acme/app"
}

# Staging with CloudFront: the deploy role trusts only the deploy branch in
# the staging GitHub environment; CloudFront and the load balancer pair up.
run "staging_trust_and_edge" {
  command = plan

  assert {
    condition = one(flatten([
      for c in data.aws_iam_policy_document.deploy_assume.statement[0].condition : c.values
      if c.variable == "token.actions.githubusercontent.com:sub"
    ])) == "repo:acme/app:environment:staging:ref:refs/heads/BRANCH"
    error_message = "staging trusts exactly one subject: the deploy branch in the staging environment"
  }

  assert {
    condition = [
      for c in data.aws_iam_policy_document.deploy_assume.statement[0].condition : c.test
      if c.variable == "token.actions.githubusercontent.com:sub"
    ] == ["StringEquals"]
    error_message = "the subject is compared exactly, no wildcards"
  }

  # CloudFront sends the secret the listener rule demands, and every other
  # request gets the 403 rule.
  assert {
    condition     = toset([one(one(aws_cloudfront_distribution.cdn[0].origin).custom_header).value]) == toset(one(one(aws_lb_listener_rule.from_cloudfront[0].condition).http_header).values)
    error_message = "the origin header CloudFront sends is the one the load balancer forwards"
  }

  assert {
    condition     = one(one(aws_lb_listener_rule.from_cloudfront[0].condition).http_header).http_header_name == one(one(aws_cloudfront_distribution.cdn[0].origin).custom_header).name
    error_message = "the same header name on both sides"
  }

  assert {
    condition     = aws_lb_listener_rule.from_cloudfront[0].priority < aws_lb_listener_rule.not_from_cloudfront[0].priority && one(aws_lb_listener_rule.not_from_cloudfront[0].action).fixed_response[0].status_code == "403"
    error_message = "requests without the header are refused after the forwarding rule"
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_https) == 0 && length(aws_vpc_security_group_ingress_rule.alb_http) == 0 && aws_vpc_security_group_ingress_rule.alb_https_from_cloudfront[0].prefix_list_id == data.aws_ec2_managed_prefix_list.cloudfront[0].id
    error_message = "the load balancer admits CloudFront's prefix list only"
  }

  assert {
    condition     = data.aws_ec2_managed_prefix_list.cloudfront[0].name == "com.amazonaws.global.cloudfront.origin-facing"
    error_message = "the origin-facing CloudFront prefix list"
  }

  assert {
    condition     = one(aws_cloudfront_distribution.cdn[0].origin).custom_origin_config[0].origin_protocol_policy == "https-only" && one(aws_cloudfront_distribution.cdn[0].viewer_certificate).minimum_protocol_version == "TLSv1.2_2021"
    error_message = "TLS from the viewer and to the origin"
  }

  # The app's behaviour: nothing cached, everything forwarded (Host too, so
  # a webhook signature over the public URL still verifies).
  assert {
    condition     = aws_cloudfront_cache_policy.no_cache[0].max_ttl == 0 && one(aws_cloudfront_origin_request_policy.all_viewer[0].headers_config).header_behavior == "allViewerAndWhitelistCloudFront" && one(aws_cloudfront_origin_request_policy.all_viewer[0].cookies_config).cookie_behavior == "all" && one(aws_cloudfront_origin_request_policy.all_viewer[0].query_strings_config).query_string_behavior == "all"
    error_message = "the app is not cached and gets every header, cookie and query string"
  }

  assert {
    condition     = length(one(aws_cloudfront_distribution.cdn[0].default_cache_behavior).allowed_methods) == 7
    error_message = "every method reaches the app"
  }

  # The viewer's address: CloudFront adds it, the app is told to read it.
  assert {
    condition     = one(one(aws_cloudfront_origin_request_policy.all_viewer[0].headers_config).headers).items == toset(["CloudFront-Viewer-Address"])
    error_message = "CloudFront sends the viewer's address to the app"
  }

  assert {
    condition     = one([for e in local.app_environment : e.value if e.name == "CLIENT_IP_HEADER"]) == "CloudFront-Viewer-Address"
    error_message = "behind CloudFront the app trusts CloudFront-Viewer-Address"
  }

  # No copy account: the environment's key is this account's alone.
  assert {
    condition     = length([for st in data.aws_iam_policy_document.kms.statement : st if startswith(coalesce(st.sid, "-"), "CopyAccount")]) == 0
    error_message = "no other account may use the environment's key without backup_copy_vault_arn"
  }

  assert {
    condition     = aws_cloudfront_distribution.cdn[0].aliases == toset([var.domain_name]) && aws_wafv2_web_acl.edge[0].scope == "CLOUDFRONT"
    error_message = "the distribution serves the domain behind the CLOUDFRONT-scope web ACL"
  }

  assert {
    condition     = length(aws_wafv2_web_acl_association.main) == 0
    error_message = "the regional ACL is not attached behind CloudFront (it would rate-limit CloudFront)"
  }
}

# Production, opted out of CloudFront, copying its backups away.
run "opt_out_and_copies" {
  command = plan

  variables {
    environment           = "production"
    cdn_enabled           = false
    create_cloudtrail     = false
    backup_copy_region    = "us-west-2"
    backup_copy_vault_arn = "arn:aws:backup:eu-west-1:210987654321:backup-vault:offsite"
  }

  assert {
    condition = one(flatten([
      for c in data.aws_iam_policy_document.deploy_assume.statement[0].condition : c.values
      if c.variable == "token.actions.githubusercontent.com:sub"
    ])) == "repo:acme/app:environment:production:ref:refs/heads/BRANCH"
    error_message = "production trusts the production environment on the deploy branch only"
  }

  assert {
    condition     = length(aws_cloudfront_distribution.cdn) == 0 && length(aws_wafv2_web_acl.edge) == 0 && length(aws_lb_listener_rule.not_from_cloudfront) == 0
    error_message = "no CloudFront and no origin lock when opted out"
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.alb_https) == 1 && length(aws_wafv2_web_acl_association.main) == 1
    error_message = "opted out, the load balancer is public behind the regional WAF"
  }

  assert {
    condition     = length(aws_cloudtrail.main) == 0 && length(aws_s3_bucket.trail) == 0
    error_message = "no trail where another environment keeps it"
  }

  assert {
    condition     = length(local.backup_copy_vaults) == 2 && contains(local.backup_copy_vaults, "arn:aws:backup:eu-west-1:210987654321:backup-vault:offsite")
    error_message = "recovery points are copied to the second region and to the other account"
  }

  assert {
    condition     = length(aws_backup_vault.copy) == 1 && length(aws_kms_key.backup_copy) == 1
    error_message = "the copy region has its own vault and key"
  }

  assert {
    condition     = one([for e in local.app_environment : e.value if e.name == "CLIENT_IP_HEADER"]) == "X-Forwarded-For"
    error_message = "without CloudFront the app reads the load balancer's X-Forwarded-For"
  }

  # The database's snapshots keep the environment's key: the copy account
  # may use it, through AWS Backup or RDS only, and grant only to AWS
  # resources; nothing else.
  assert {
    condition = length([
      for st in data.aws_iam_policy_document.kms.statement : st
      if st.sid == "CopyAccountReadsDatabaseRecoveryPoints"
      && flatten([for p in st.principals : p.identifiers]) == ["arn:aws:iam::210987654321:root"]
      && st.actions == toset(["kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*", "kms:GenerateDataKey*"])
      && [for c in st.condition : "${c.test} ${c.variable} ${join(",", c.values)}"] == ["StringEquals kms:ViaService backup.${local.region}.amazonaws.com,rds.${local.region}.amazonaws.com"]
    ]) == 1
    error_message = "the copy account decrypts the database's recovery points through AWS Backup or RDS only"
  }

  assert {
    condition = length([
      for st in data.aws_iam_policy_document.kms.statement : st
      if st.sid == "CopyAccountGrantsForDatabaseCopies"
      && flatten([for p in st.principals : p.identifiers]) == ["arn:aws:iam::210987654321:root"]
      && st.actions == toset(["kms:CreateGrant"])
      && contains([for c in st.condition : "${c.test} ${c.variable} ${join(",", c.values)}"], "Bool kms:GrantIsForAWSResource true")
    ]) == 1
    error_message = "the copy account creates grants on the key only for AWS resources"
  }
}
"#;

/// The generated test file's mocks, followed by RUNS for `branch`.
fn edge_test_file(generated: &str, branch: &str) -> String {
    let mocks = &generated[..generated
        .find("\nvariables {")
        .expect("the generated test file sets variables after its mocks")];
    format!("{mocks}\n{}", RUNS.replace("BRANCH", branch))
}

#[test]
fn trust_edge_opt_out_and_backup_copies_plan_as_claimed() {
    let tf = terraform();
    let started = Instant::now();
    // A voice preset (webhooks and a WebSocket through CloudFront), with a
    // deploy branch other than main so the trust follows the profile.
    let run = common::init_preset_with("twilio-voice", &["ci.main_branch=\"trunk\""]);
    let dir = run.path().join(TF_DIR);
    let generated = std::fs::read_to_string(dir.join("tests/plan.tftest.hcl")).unwrap();
    std::fs::write(
        dir.join("tests/cloud_edge.tftest.hcl"),
        edge_test_file(&generated, "trunk"),
    )
    .unwrap();
    tf.init(&dir);
    let out = tf.ok(
        &dir,
        &[
            "test",
            "-no-color",
            "-filter=tests/cloud_edge.tftest.hcl",
            "-var-file=environments/staging.tfvars",
        ],
    );
    for name in ["staging_trust_and_edge", "opt_out_and_copies"] {
        assert!(out.contains(&format!("run \"{name}\"... pass")), "{out}");
    }
    assert!(out.contains("2 passed, 0 failed"), "{out}");

    // The staging run expecting `main` must fail on the trust: the
    // assertion really compares the subject.
    let staging_only = edge_test_file(&generated, "main");
    let staging_only = &staging_only[..staging_only.find("# Production, opted out").unwrap()];
    std::fs::write(dir.join("tests/cloud_edge.tftest.hcl"), staging_only).unwrap();
    let (ok, out) = tf.run(
        &dir,
        &[
            "test",
            "-no-color",
            "-filter=tests/cloud_edge.tftest.hcl",
            "-var-file=environments/staging.tfvars",
        ],
    );
    assert!(
        !ok && out.contains("staging trusts exactly one subject"),
        "{out}"
    );
    eprintln!(
        "planned trust, edge, opt-out and copies in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// The edge web ACL keeps the regional one's rules.

fn hcl_json(file: &Path) -> Value {
    let tool = common::require_tool("hcl2tojson");
    let out = Command::new(tool)
        .arg("--strip-string-quotes")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A resource's body from hcl2tojson output.
fn resource<'a>(doc: &'a Value, kind: &str, name: &str) -> &'a Value {
    doc["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r.get(kind).and_then(|r| r.get(name)))
        .unwrap_or_else(|| panic!("no resource {kind}.{name}"))
}

/// The ACL's rules with metric names taken out (they differ by design).
fn rules(acl: &Value) -> Vec<Value> {
    acl["rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("visibility_config");
            r
        })
        .collect()
}

#[test]
fn edge_web_acl_has_every_rule_of_the_regional_one() {
    let mut compared = 0;
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let dir = run.path().join(TF_DIR);
        let regional = hcl_json(&dir.join("alb.tf"));
        let edge = hcl_json(&dir.join("cdn.tf"));
        let regional = resource(&regional, "aws_wafv2_web_acl", "main");
        let edge = resource(&edge, "aws_wafv2_web_acl", "edge");
        assert_eq!(regional["scope"], "REGIONAL");
        assert_eq!(edge["scope"], "CLOUDFRONT");
        let (r, e) = (rules(regional), rules(edge));
        assert!(r.len() >= 5, "{preset}: {} regional rules", r.len());
        assert_eq!(r, e, "{preset}: the edge ACL's rules differ");
        compared += r.len();
    }
    eprintln!("compared {compared} web ACL rules");
}

// ---------------------------------------------------------------------------
// The app's database user, created with the runbook's SQL.

/// No task gets the master password (RDS rotates it under running tasks);
/// the app connects as its own user with IAM tokens, and the README says
/// why and what the app must do.
#[test]
fn tasks_connect_as_the_app_user_without_the_master_password() {
    for preset in common::presets() {
        let profile = profile_of(&preset);
        let run = common::init_preset(&preset);
        let ecs = run.read(&format!("{TF_DIR}/ecs.tf"));
        let readme = run.read(&format!("{TF_DIR}/README.md"));
        let secrets = &readme[readme.find("## Secrets").unwrap()..];
        let secrets = &secrets[..secrets[1..].find("\n## ").unwrap()];
        assert!(!ecs.contains("PGPASSWORD"), "{preset}");
        assert!(!ecs.contains("master_user_secret"), "{preset}");
        if !profile.postgres.enabled {
            assert!(!secrets.contains("rds-db:connect"), "{preset}");
            continue;
        }
        let user = &profile.postgres.user;
        for needle in [
            format!("{{ name = \"PGUSER\", value = \"{user}\" }}"),
            "{ name = \"DB_IAM_AUTH\", value = \"true\" }".to_string(),
            format!("dbuser:${{aws_db_instance.postgres.resource_id}}/{user}\"]"),
        ] {
            assert!(ecs.contains(&needle), "{preset}: ecs.tf lacks {needle}");
        }
        let vars = run.read(&format!("{TF_DIR}/variables.tf"));
        assert!(
            vars.contains(&format!("default     = \"{user}_admin\"")),
            "{preset}: the master is not the app's user"
        );
        for needle in [
            "every 7 days",
            "rds-db:connect",
            "GRANT rds_iam",
            "alternating-users",
        ] {
            assert!(secrets.contains(needle), "{preset}: {needle:?}\n{secrets}");
        }
    }
}

/// The runbook block that creates the app's user on RDS.
fn app_user_block(runbook: &str) -> String {
    let start = runbook
        .find("- **Database on AWS (RDS):**")
        .expect("the runbook's RDS credentials item");
    let rest = &runbook[start..];
    let open = rest.find("```sh\n").unwrap() + 6;
    let close = open + rest[open..].find("  ```").unwrap();
    rest[open..close]
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn runbook_creates_an_app_user_that_is_not_the_master() {
    let pg = Postgres::start();
    let mut ran = 0;
    for preset in common::presets() {
        let run = common::init_preset(&preset);
        let profile = profile_of(&preset);
        let runbook = run.read("docs/RUNBOOK.md");
        if !profile.postgres.enabled {
            assert!(!runbook.contains("GRANT rds_iam"), "{preset}");
            continue;
        }
        let (user, db) = (&profile.postgres.user, &profile.postgres.database);
        let admin = format!("{user}_admin");

        // What RDS has: the rds_iam role, and a master that may create roles
        // and owns the database but is no superuser.
        pg.psql(
            "postgres",
            &format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') \
                 THEN CREATE ROLE rds_iam; END IF; END $$; \
                 CREATE ROLE \"{admin}\" LOGIN CREATEROLE CREATEDB PASSWORD 'admin-secret'"
            ),
        );
        pg.psql(
            "postgres",
            &format!("CREATE DATABASE \"{db}\" OWNER \"{admin}\""),
        );
        // A table the administrator made before the app had its own user.
        let mut as_admin = Command::new(common::require_tool("psql"));
        pg.env(&mut as_admin);
        let made = as_admin
            .env("PGUSER", &admin)
            .env("PGPASSWORD", "admin-secret")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c"])
            .arg("CREATE TABLE calls (id serial PRIMARY KEY, sid text)")
            .output()
            .unwrap();
        assert!(made.status.success(), "{preset}: {made:?}");

        // The block, as written, with `terraform` and `aws` answering as the
        // environment would; only TLS is off (the local server has none).
        let work = tempfile::tempdir().unwrap();
        let bin = work.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        write_exec(
            &bin.join("terraform"),
            "#!/bin/bash\ncase \"$*\" in\n\
             *'output -raw db_endpoint') echo 127.0.0.1 ;;\n\
             *'output -raw db_master_secret_arn') echo arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master ;;\n\
             *) echo \"unexpected terraform $*\" >&2; exit 64 ;;\nesac\n",
        );
        write_exec(
            &bin.join("aws"),
            "#!/bin/bash\n[[ \"$*\" == *'--secret-id arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master'* ]] \
             || { echo \"unexpected aws $*\" >&2; exit 64; }\n\
             echo '{\"username\":\"master\",\"password\":\"admin-secret\"}'\n",
        );
        let block = app_user_block(&runbook);
        assert!(block.contains("PGSSLMODE=require"), "{block}");
        let block = block.replace("PGSSLMODE=require", "PGSSLMODE=disable");
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &block])
            .env("PATH", path)
            .env("PGPORT", pg.port.to_string())
            .env_remove("PGPASSWORD")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{preset}: the runbook block failed:\n{block}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let q = |sql: &str| pg.psql(db, sql);
        assert_eq!(
            q(&format!(
                "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword IS NULL \
                 FROM pg_authid WHERE rolname = '{user}'"
            )),
            "t|f|f|f|t",
            "{preset}: a login without a password or any administrative power"
        );
        assert_eq!(
            q(&format!(
                "SELECT pg_has_role('{user}', 'rds_iam', 'MEMBER')"
            )),
            "t",
            "{preset}: IAM tokens only"
        );
        assert_eq!(
            q(&format!(
                "SELECT pg_has_role('{user}', '{admin}', 'MEMBER')"
            )),
            "f",
            "{preset}: the app does not inherit the master's rights"
        );
        // As the app: migrate (own the schema and the earlier table), use it.
        let as_app = format!(
            "SET ROLE \"{user}\"; CREATE TABLE app_migration (id int); \
             ALTER TABLE calls ADD COLUMN status text; \
             INSERT INTO calls (sid, status) VALUES ('CA1', 'queued'); \
             SELECT count(*) FROM calls"
        );
        assert_eq!(q(&as_app), "1", "{preset}");
        assert_eq!(
            q("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"),
            *user,
            "{preset}"
        );

        // Runs again for the next preset that shares the names.
        pg.psql("postgres", &format!("DROP DATABASE \"{db}\""));
        pg.psql(
            "postgres",
            &format!("DROP ROLE \"{user}\"; DROP ROLE \"{admin}\""),
        );
        ran += 1;
    }
    eprintln!("created the app's database user for {ran} presets");
    assert!(ran >= 3, "only {ran} presets with Postgres");
}

// ---------------------------------------------------------------------------
// The front end on AWS (fastapi-three-tier has a React build).

/// The CloudFront Function's own code, run by Node (CloudFront Functions are
/// JavaScript): client-side routes become /index.html, files of the build
/// and the root pass as they are.
#[test]
fn spa_route_function_maps_routes_and_leaves_files() {
    let node = common::require_tool("node");
    let run = common::init_preset("fastapi-three-tier");
    let code = run.path().join(TF_DIR).join("functions/spa_routes.js");
    assert!(code.is_file(), "no {}", code.display());
    let cases: &[(&str, &str)] = &[
        ("/", "/index.html"),
        ("/settings", "/index.html"),
        ("/settings/profile", "/index.html"),
        ("/calls/42/", "/index.html"),
        ("/index.html", "/index.html"),
        ("/assets/index-3f7a9c.js", "/assets/index-3f7a9c.js"),
        ("/assets/index-3f7a9c.css", "/assets/index-3f7a9c.css"),
        ("/favicon.ico", "/favicon.ico"),
        ("/assets/missing-0000.js", "/assets/missing-0000.js"),
        ("/.well-known/security.txt", "/.well-known/security.txt"),
    ];
    let uris: Vec<&str> = cases.iter().map(|(uri, _)| *uri).collect();
    // The file as CloudFront runs it: a top-level `handler`, no exports.
    const HARNESS: &str = r#"
const src = require("fs").readFileSync(process.argv[1], "utf8");
const handler = new Function(src + "\nreturn handler;")();
const out = {};
for (const uri of JSON.parse(process.argv[2])) {
  const request = { method: "GET", uri, querystring: {}, headers: {}, cookies: {} };
  const result = handler({ version: "1.0", context: { eventType: "viewer-request" }, viewer: { ip: "192.0.2.1" }, request });
  out[uri] = result.uri;
}
console.log(JSON.stringify(out));
"#;
    let out = Command::new(node)
        .arg("-e")
        .arg(HARNESS)
        .arg(&code)
        .arg(serde_json::to_string(&uris).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (uri, want) in cases {
        assert_eq!(got[*uri], *want, "{uri}");
    }
}

/// Without CloudFront nothing would serve the front end: the plan refuses
/// cdn_enabled = false with the reason, before anything is created.
#[test]
fn frontend_stack_refuses_the_cdn_opt_out() {
    let tf = terraform();
    let run = common::init_preset("fastapi-three-tier");
    let dir = run.path().join(TF_DIR);
    tf.init(&dir);
    let (ok, out) = tf.run(
        &dir,
        &[
            "test",
            "-no-color",
            "-var-file=environments/production.tfvars",
            "-var=cdn_enabled=false",
        ],
    );
    assert!(
        !ok && out.contains("would leave the front end") && out.contains("frontend/dist"),
        "{out}"
    );
}
