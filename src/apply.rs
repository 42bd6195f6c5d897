//! Acting on a plan: atomic writes, removals, and the lock written last, so
//! an interrupted run leaves the old lock describing files that are either
//! old or new, never torn.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Duration;

use crate::error::Error;
use crate::fsio;
use crate::lock::{Lock, LockedFile, LOCK_FILE, LOCK_SCHEMA};
use crate::profile::Profile;
use crate::render::RenderedTree;
use crate::ui;

/// One file to write.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    pub path: &'a str,
    pub contents: &'a str,
    pub mode: u32,
}

/// Write files and remove orphans under `root`, with a progress bar on a
/// terminal; then, when given, write `lock`, last. The lock is serialised
/// while the files are written (it is ~300 KB of TOML for a large preset).
pub fn apply(
    root: &Path,
    writes: &[Write<'_>],
    removals: &[&str],
    lock: Option<&Lock>,
) -> Result<(), Error> {
    std::thread::scope(|s| {
        let lock_text = lock.map(|l| s.spawn(|| l.to_text()));
        apply_files(root, writes, removals)?;
        match lock_text {
            Some(text) => {
                let text = text.join().expect("serialising the lock panicked");
                fsio::write_atomic(root, LOCK_FILE, &text, 0o644)
            }
            None => Ok(()),
        }
    })
}

fn apply_files(root: &Path, writes: &[Write<'_>], removals: &[&str]) -> Result<(), Error> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let bar = if ui::stdout_is_terminal() && writes.len() + removals.len() > 1 {
        let b = ProgressBar::new((writes.len() + removals.len()) as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                .expect("a valid progress template"),
        );
        b.enable_steady_tick(Duration::from_millis(100));
        b
    } else {
        ProgressBar::hidden()
    };
    // Most of a write's cost is in the kernel (creating the temp file,
    // freeing the replaced file's blocks on rename); files are independent.
    crate::parallel::try_map(writes, |w| {
        bar.set_message(w.path.to_string());
        fsio::write_atomic(root, w.path, w.contents, w.mode)?;
        bar.inc(1);
        Ok::<(), Error>(())
    })?;
    for r in removals {
        bar.set_message(r.to_string());
        fsio::remove(root, r)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// A lock recording `tree` as the base of every file in it.
pub fn lock_for(profile: &Profile, preset: Option<String>, tree: &RenderedTree) -> Lock {
    Lock {
        schema: LOCK_SCHEMA,
        shipready_version: env!("CARGO_PKG_VERSION").to_string(),
        template_version: tree.template_version.clone(),
        preset,
        profile: profile.clone(),
        files: tree
            .files
            .iter()
            .map(|f| (f.path.clone(), LockedFile::new(&f.contents, f.mode)))
            .collect(),
    }
}
