//! Validators for the nginx edge: `nginx -t` on the sandboxed copy, and
//! gixy (nginx's security analyzer) on the configuration as it ships.

use std::path::{Path, PathBuf};

use super::output::{self, command, run_command};
use super::sandbox::nginx::{nginx_sandbox, write_mime_types, NginxPorts};
use super::sandbox::{conf_files, copy_tree};
use super::{files_where, Outcome, Validator};

pub const NGINX: Validator = Validator {
    name: "nginx -t",
    tools: &["nginx", "openssl"],
    targets: |paths| files_where(paths, |p| p == "deploy/nginx/nginx.conf"),
    run: |root, target| nginx_test(root, target),
};

/// gixy over the configuration exactly as it ships (no sandbox rewrites),
/// with includes resolved the way nginx resolves them.
pub const GIXY: Validator = Validator {
    name: "gixy",
    tools: &["gixy"],
    targets: |paths| files_where(paths, |p| p == "deploy/nginx/nginx.conf"),
    run: |root, target| gixy_check(root, target),
};

fn nginx_test(root: &Path, _target: &str) -> Outcome {
    let ports = NginxPorts {
        http: 18080,
        https: 18443,
        status: 18081,
        upstream: 18000,
    };
    let sandbox = match nginx_sandbox(root, ports) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("could not prepare the nginx sandbox: {e}")),
    };
    // `nginx -t` parses, loads certificates and resolves upstreams; it binds
    // no port, so the fixed ports above cannot collide.
    run_command(command("nginx").arg("-t").args(sandbox.args()))
}

/// gixy on a copy of `deploy/nginx` laid out as the image's /etc/nginx
/// (the generated files plus `mime.types`), unmodified otherwise, so gixy
/// judges what production runs. gixy resolves includes relative to the main
/// file's directory, as nginx does with this layout. A missing include would
/// hide everything in it (gixy only warns about a plain path and says
/// nothing about a glob that matches no file, such as `conf.d/*.conf`), so
/// both are failures here, before and after gixy runs. Any finding, of any
/// severity, fails: gixy exits non-zero.
fn gixy_check(root: &Path, _target: &str) -> Outcome {
    let result = (|| {
        let dir = tempfile::Builder::new()
            .prefix("shipready-gixy-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let conf = dir.path().join("nginx");
        copy_tree(&root.join("deploy/nginx"), &conf)?;
        write_mime_types(&conf)?;
        let missing = unresolved_includes(&conf)?;
        if !missing.is_empty() {
            return Err(format!(
                "includes that resolve to no file, which gixy would not check:\n{}",
                missing.join("\n")
            ));
        }
        let mut cmd = command("gixy");
        cmd.current_dir(dir.path())
            // Only this run's arguments: no GIXY_* variables or personal
            // ~/.config/gixy file turning checks off.
            .env("HOME", dir.path())
            .args(["--format", "text", "--checks=", "--skips="])
            .arg(conf.join("nginx.conf"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIXY_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .output()
            .map_err(|e| format!("could not run gixy: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Paths in the report are the temp copy's; show them as the tree's.
        let as_in_tree =
            |text: String| text.replace(&format!("{}/", conf.display()), "deploy/nginx/");
        if !out.status.success() {
            return Err(as_in_tree(output::failure(
                "gixy".as_ref(),
                out.status,
                &out.stdout,
                &out.stderr,
            )));
        }
        let shown = as_in_tree(output::streams(&out.stdout, &out.stderr));
        if stderr.contains("File not found") || stderr.contains("circular include") {
            return Err(format!("gixy could not read every included file:\n{shown}"));
        }
        Ok(())
    })();
    match result {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

/// `include` directives under `conf` that match no file, resolved relative
/// to `conf` (nginx's conf prefix); a glob (`*`, `?`) must match at least
/// one file. Each pattern is named once per file, at its first line.
fn unresolved_includes(conf: &Path) -> Result<Vec<String>, String> {
    let mut missing = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in conf_files(conf)? {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let shown = file
            .strip_prefix(conf)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or_default().trim();
            let Some(arg) = code.strip_prefix("include") else {
                continue;
            };
            if !arg.starts_with([' ', '\t']) {
                continue;
            }
            let pattern = arg
                .trim()
                .trim_end_matches(';')
                .trim()
                .trim_matches(['"', '\'']);
            let full = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                conf.join(pattern)
            };
            let matches_a_file = glob::glob(&full.to_string_lossy())
                .map_err(|e| format!("deploy/nginx/{shown}:{}: {e}", n + 1))?
                .flatten()
                .any(|p| p.is_file());
            if !matches_a_file && seen.insert((shown.clone(), pattern.to_string())) {
                missing.push(format!("deploy/nginx/{shown}:{}: include {pattern}", n + 1));
            }
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_that_match_nothing_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path();
        std::fs::create_dir_all(conf.join("snippets")).unwrap();
        std::fs::write(conf.join("snippets/a.conf"), "add_header X y;\n").unwrap();
        std::fs::write(
            conf.join("nginx.conf"),
            "# include commented.conf;\ninclude snippets/a.conf;\ninclude snippets/*.conf;\n\
             include conf.d/*.conf;\ninclude mime.types;\ninclude mime.types;\n",
        )
        .unwrap();
        assert_eq!(
            unresolved_includes(conf).unwrap(),
            vec![
                "deploy/nginx/nginx.conf:4: include conf.d/*.conf".to_string(),
                "deploy/nginx/nginx.conf:5: include mime.types".to_string(),
            ]
        );
        write_mime_types(conf).unwrap();
        std::fs::create_dir(conf.join("conf.d")).unwrap();
        std::fs::write(conf.join("conf.d/site.conf"), "").unwrap();
        assert!(unresolved_includes(conf).unwrap().is_empty());
    }
}
