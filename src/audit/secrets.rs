//! Secrets: committed values, literal secrets in configuration, and
//! documented variables. The walker has already dropped whatever git
//! ignores, so every file seen here would be committed.

use super::facts::Ctx;
use super::probe::Outcome;
use super::report::Evidence;
use super::walk::*;
use super::{gap, pass};
use Outcome::{Gap, Na, Pass};

const SECRET_KEY: &str =
    r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIALS?|AUTH)";

/// Values that stand for a secret rather than being one.
const PLACEHOLDER: &str = r"(?i)^(<.*>|\{\{.*\}\}|x{3,}|\*{3,}|\.{3}|-+|none|null|changeme.*|change[-_]?me.*|.*change[-_ ]?this.*|your[-_ ].*|.*placeholder.*|.*example.*|dummy.*|todo.*|replace[-_ ]?me.*|xxx.*|sk-[a-z-]*x{3,}.*|.*_here)$";

/// A file that holds a secret by its name: db/password.txt, secrets/api_key,
/// server.key, id_rsa.
const SECRET_FILE: &str = r"(?i)(^|/)(secrets?/[^/]+|[^/]*(password|passwd|secret|token|api_?key|credential)[^/]*\.(txt|json)?|[^/]+\.(pem|key)|id_rsa|id_ed25519)$";
/// Files in a secrets folder that only describe it.
const NOT_A_SECRET: &str = r"(?i)(\.gitignore|\.gitkeep|readme(\.md)?|\.example|\.sample|\.template|\.tpl|\.sh|\.md|\.tera|\.pub)$";

pub(super) fn is_placeholder(v: &str) -> bool {
    let v = v.trim().trim_matches(['"', '\'']);
    v.is_empty()
        || v.starts_with("./")
        || v.starts_with("/run/secrets")
        || rx!(PLACEHOLDER).is_match(v)
}

/// The literal value an assignment really uses: `${X:-admin}` is "admin",
/// `${X}` is nothing.
fn literal_value(v: &str) -> Option<String> {
    let v = v.trim().trim_matches(['"', '\'']);
    if v.starts_with('$') {
        let c = rx!(r"^\$\{[A-Za-z0-9_]+:?[-=]([^}]*)\}").captures(v)?;
        let d = c[1].to_string();
        return (!is_placeholder(&d)).then_some(d);
    }
    (!is_placeholder(v)).then(|| v.to_string())
}

fn secret_assignments(f: &SourceFile) -> Vec<Evidence> {
    let key = rx!(r"^\s*(export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$");
    let secret = rx!(SECRET_KEY);
    f.text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let c = key.captures(l)?;
            let k = &c[2];
            let v = c[3].split(" #").next().unwrap_or("");
            (secret.is_match(k) && !k.ends_with("_FILE") && literal_value(v).is_some())
                // The value is never printed, only the key.
                .then(|| ev(&f.path, i + 1, &format!("{k}=…")))
        })
        .collect()
}

fn secret_files(ctx: &Ctx) -> Vec<Evidence> {
    ctx.repo
        .files
        .iter()
        .filter(|f| rx!(SECRET_FILE).is_match(&f.path) && !rx!(NOT_A_SECRET).is_match(&f.path))
        .filter(|f| !f.path.ends_with("package.json") && !is_placeholder(f.text.trim()))
        // The value is never printed.
        .map(|f| ev(&f.path, 1, "…"))
        .collect()
}

pub fn store(ctx: &Ctx) -> Outcome {
    let mut committed: Vec<Evidence> = ctx
        .repo
        .matching(is_env_file)
        .flat_map(secret_assignments)
        .collect();
    committed.extend(secret_files(ctx));
    if !committed.is_empty() {
        return Gap(
            committed,
            "secret values sit in files that .gitignore does not exclude".into(),
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
            ctx.repo.first(
                is_tf,
                rx!(r#"resource\s+"aws_(secretsmanager_secret|ssm_parameter)""#),
            )
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

pub fn example(ctx: &Ctx) -> Outcome {
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

pub fn literals(ctx: &Ctx) -> Outcome {
    let files: Vec<&SourceFile> = ctx
        .repo
        .matching(|p| is_compose(p) || is_dockerfile(p))
        .collect();
    if files.is_empty() {
        return Na("no compose files or Dockerfiles".into());
    }
    let compose = rx!(r#"^\s*-?\s*['"]?([A-Za-z0-9_]+)\s*[:=]\s*(.+)$"#);
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
                    Some(c) => (c[1].to_string(), c[2].trim().to_string()),
                    None => continue,
                }
            };
            let v = v
                .split(" #")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .to_string();
            let structural = matches!(
                v.as_str(),
                "true" | "false" | "yes" | "no" | "|" | ">" | "|-" | ">-" | ""
            );
            if secret.is_match(&k)
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !k.ends_with("_FILE")
                && !structural
                && literal_value(&v).is_some()
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
        Gap(
            bad,
            "secrets are written into configuration (or as ${VAR:-default} defaults)".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_not_secrets() {
        for v in [
            "sk-proj-xxx",
            "your_api_key",
            "<token>",
            "changeme",
            "${DB_PASSWORD}",
            "",
            "xxxxxxxx",
            "your-secret-here",
        ] {
            assert_eq!(literal_value(v), None, "{v}");
        }
        for v in ["hunter2", "${ADMIN_PASSWORD:-admin}", "sk-proj-4fQ9zL2"] {
            assert!(literal_value(v).is_some(), "{v}");
        }
    }

    #[test]
    fn secret_values_are_found_but_never_shown() {
        let f = SourceFile {
            path: ".env".into(),
            text: "PORT=3000\nDB_PASSWORD=hunter2\nAPI_KEY=\nTOKEN_FILE=/run/secrets/t\n".into(),
        };
        let e = secret_assignments(&f);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "DB_PASSWORD=…");
        assert_eq!(e[0].line, 2);
    }
}
