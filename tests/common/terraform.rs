//! The real Terraform CLI with the AWS provider from a local filesystem
//! mirror (no registry, no network): one CLI config and one plugin cache per
//! test binary, so the ~700 MB provider is linked, not copied, per init.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{OnceLock, RwLock};

/// Where the provider mirror is; the default is where this machine's
/// install put it (registry.terraform.io/hashicorp/aws/<version>/<os_arch>).
pub const MIRROR_VAR: &str = "SHIPREADY_TF_MIRROR";
pub const DEFAULT_MIRROR: &str = "/opt/tf-plugins";

pub struct Terraform {
    pub bin: PathBuf,
    pub cli_config: PathBuf,
    _home: tempfile::TempDir,
}

/// Inits write to the shared plugin cache, which Terraform does not lock,
/// and every other command reads the provider through it: an init runs
/// alone, the rest side by side (an init is under a second once the cache
/// is warm).
static CACHE_LOCK: RwLock<()> = RwLock::new(());

pub fn terraform() -> &'static Terraform {
    static TF: OnceLock<Terraform> = OnceLock::new();
    TF.get_or_init(|| {
        let bin = super::require_tool("terraform");
        let mirror =
            PathBuf::from(std::env::var(MIRROR_VAR).unwrap_or_else(|_| DEFAULT_MIRROR.to_string()));
        let aws = mirror.join("registry.terraform.io/hashicorp/aws");
        let has_provider = std::fs::read_dir(&aws)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        assert!(
            has_provider,
            "no hashicorp/aws provider in the Terraform mirror {}: set {MIRROR_VAR} to a \
             directory laid out as registry.terraform.io/hashicorp/aws/<version>/<os_arch>/ \
             (`terraform providers mirror DIR` run once where the registry is reachable makes one)",
            mirror.display()
        );
        let home = tempfile::tempdir().unwrap();
        let cache = home.path().join("plugin-cache");
        std::fs::create_dir_all(&cache).unwrap();
        let cli_config = home.path().join("terraform.rc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = {:?}\n    \
                 include = [\"registry.terraform.io/hashicorp/*\"]\n  }}\n}}\n\
                 plugin_cache_dir = {:?}\n",
                mirror.display().to_string(),
                cache.display().to_string()
            ),
        )
        .unwrap();
        Terraform {
            bin,
            cli_config,
            _home: home,
        }
    })
}

impl Terraform {
    /// `terraform ARGS` in `dir`, with no AWS credentials in reach and no
    /// calls home.
    pub fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(dir)
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, _) in std::env::vars() {
            if (k.starts_with("AWS_") && k != "AWS_EC2_METADATA_DISABLED")
                || k.starts_with("TF_VAR_")
            {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Runs and returns (success, stdout + stderr).
    pub fn run(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let (_write, _read) = if args.first() == Some(&"init") {
            (Some(CACHE_LOCK.write().unwrap()), None)
        } else {
            (None, Some(CACHE_LOCK.read().unwrap()))
        };
        let out = self
            .command(dir)
            .args(args)
            .output()
            .expect("terraform runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs and fails the test, with Terraform's output, unless it succeeds.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let (ok, text) = self.run(dir, args);
        assert!(
            ok,
            "terraform {} in {} failed:\n{text}",
            args.join(" "),
            dir.display()
        );
        text
    }

    /// `terraform init -backend=false`: providers from the mirror only.
    pub fn init(&self, dir: &Path) {
        self.ok(dir, &["init", "-backend=false", "-no-color"]);
    }
}
