//! `shipready init`: resolve a profile, render, plan against the disk once,
//! and write — or, with `--dry-run`, only say what would be written.
//!
//! A file that differs from the render stops init, since it holds someone's
//! work; `--force` replaces it and keeps the old text under
//! `.shipready/backup/<time>/`, with the command that brings it back.

use std::borrow::Cow;
use std::path::Path;

use crate::answers;
use crate::cli::InitArgs;
use crate::core::apply::{self, Changes, Write};
use crate::core::lock::{LOCK_FILE, STATE_DIR};
use crate::core::plan::{Action, FileChange, Mode, Plan};
use crate::core::project::{Access, Project};
use crate::core::render;
use crate::error::{exit, Error};
use crate::interactive;
use crate::preset::Preset;
use crate::ui;

pub fn run(args: &InitArgs) -> Result<i32, Error> {
    let mut preset = args.preset.as_deref().map(Preset::find).transpose()?;
    let answer_args = &args.answers;
    // A person at a terminal without a preset gets questions; everything
    // else (CI, pipes, --yes) goes straight to validation, which lists every
    // missing answer at once.
    let asked = preset.is_none() && !args.yes && ui::can_prompt();
    let mut asked_answers = None;
    if asked {
        let answers = interactive::questionnaire(args)?;
        preset = answers.preset.as_deref().map(Preset::find).transpose()?;
        asked_answers = Some(answers);
    }
    // --yes takes what `shipready detect` proposes: its preset unless one
    // is given, its answers above the preset's and below --values/--set.
    let profile = if args.yes {
        let proposal = crate::detect::command::Proposal::for_dir(&args.dir);
        if preset.is_none() {
            preset = proposal
                .preset
                .as_ref()
                .map(|c| Preset::find(c.name))
                .transpose()?;
        }
        let mut base: Vec<_> = preset.iter().map(|p| p.layer()).collect();
        base.push(proposal.layer());
        crate::profile::Profile::from_layers(&answers::layers(base, answer_args)?)?
    } else if let Some(asked) = &asked_answers {
        asked.profile(answer_args)?
    } else {
        answers::resolve(preset.as_ref(), answer_args)?
    };
    let access = if args.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let project = Project::open(&args.dir, args.templates.as_deref(), access)?;
    let tree = render::render(&profile, &project.templates)?;
    let plan = Plan::compute(&args.dir, &tree, project.lock.as_ref())?;
    let mode = if args.force {
        Mode::InitForce
    } else {
        Mode::Init
    };
    let steps: Vec<(&FileChange, Action)> = plan
        .changes
        .iter()
        .map(|c| (c, Action::decide(c, mode)))
        .collect();

    if args.dry_run {
        print_steps(&steps);
        print_summary(&steps, &args.dir, true, None);
        return Ok(exit::OK);
    }
    let blocked: Vec<_> = steps
        .iter()
        .filter(|(_, a)| *a == Action::Block)
        .map(|(c, _)| args.dir.join(&c.path))
        .collect();
    if !blocked.is_empty() {
        return Err(Error::WouldOverwrite(blocked));
    }

    let new_lock = apply::lock_for(&profile, preset.map(|p| p.name), &tree);
    let writes = steps.iter().filter(|(_, a)| a.writes()).count();
    if writes == 0 && project.lock.as_ref() == Some(&new_lock) {
        println!(
            "Nothing to do: all {} are up to date in {}.",
            ui::count(tree.files.len(), "file", "files"),
            args.dir.display()
        );
        return Ok(exit::OK);
    }
    if asked {
        print_steps(&steps);
        let prompt = format!(
            "Write {} and {LOCK_FILE} to {}?",
            ui::count(writes, "file", "files"),
            args.dir.display()
        );
        if !interactive::confirm(&prompt)? {
            println!("Nothing written.");
            return Ok(exit::OK);
        }
    }

    let backup_dir = format!("{STATE_DIR}/backup/{}", timestamp());
    let mut changes = Changes::default();
    for (c, action) in &steps {
        if !action.writes() {
            continue;
        }
        let rendered = c.rendered.as_ref().expect("a written file is rendered");
        changes.writes.push(Write {
            path: Cow::Borrowed(&c.path),
            contents: Cow::Borrowed(&rendered.contents),
            mode: rendered.mode,
            original: c.disk.as_deref(),
        });
        if *action == Action::Overwrite {
            let kept = c.disk.as_deref().unwrap_or_default();
            changes.writes.push(Write {
                path: Cow::Owned(format!("{backup_dir}/{}", c.path)),
                contents: Cow::Borrowed(kept),
                mode: c.mode(),
                original: None,
            });
        }
    }
    let overwritten: Vec<&str> = steps
        .iter()
        .filter(|(_, a)| *a == Action::Overwrite)
        .map(|(c, _)| c.path.as_str())
        .collect();
    if !overwritten.is_empty() {
        // Backups are the team's to read, not to commit.
        changes.writes.push(Write {
            path: Cow::Owned(format!("{STATE_DIR}/backup/.gitignore")),
            contents: Cow::Borrowed("# Files `shipready init --force` replaced.\n*\n"),
            mode: 0o644,
            original: None,
        });
    }
    changes.last = apply::lock_writes(
        &args.dir,
        &new_lock,
        &tree,
        project.lock.as_ref(),
        project.lock_text.as_deref(),
    )?;
    apply::apply(&args.dir, &changes)?;
    apply::stale_bases(&args.dir, &new_lock, project.lock.as_ref());

    if !asked {
        print_steps(&steps);
    }
    print_summary(&steps, &args.dir, false, Some((&backup_dir, &overwritten)));
    Ok(exit::OK)
}

fn print_steps(steps: &[(&FileChange, Action)]) {
    for (c, a) in steps {
        println!("  {} {}", ui::toned(a.label(), a.tone(), 8), c.path);
    }
}

fn print_summary(
    steps: &[(&FileChange, Action)],
    dir: &Path,
    dry_run: bool,
    backups: Option<(&str, &[&str])>,
) {
    let written = steps.iter().filter(|(_, a)| a.writes()).count();
    let same = steps.iter().filter(|(_, a)| *a == Action::Same).count();
    let kept = steps
        .iter()
        .filter(|(_, a)| *a == Action::KeepOrphan)
        .count();
    let head = if dry_run { "Would write" } else { "Wrote" };
    println!(
        "{} {} ({same} unchanged) in {} and {LOCK_FILE}.",
        ui::heading(head),
        ui::count(written, "file", "files"),
        dir.display()
    );
    if kept > 0 {
        println!(
            "{} no longer rendered by this profile; left in place and no longer tracked.",
            ui::count(kept, "file is", "files are")
        );
    }
    let blocked = steps.iter().filter(|(_, a)| *a == Action::Block).count();
    if dry_run && blocked > 0 {
        println!(
            "{} differ and would stop init; add --force to replace them (your versions are backed up).",
            ui::count(blocked, "existing file", "existing files")
        );
    }
    if let Some((backup_dir, paths)) = backups.filter(|(_, p)| !p.is_empty()) {
        println!(
            "{} replaced; your versions are in {}/{backup_dir}/.",
            ui::count(paths.len(), "file was", "files were"),
            dir.display()
        );
        println!(
            "{}",
            ui::hint(&format!(
                "To keep your version of a file, copy it back (from {}): cp {backup_dir}/{p} {p}\n\
                 shipready then treats it as your edit: `shipready diff` shows it and `shipready update` keeps it.",
                dir.display(),
                p = paths[0]
            ))
        );
    }
    if !dry_run {
        println!(
            "{}",
            ui::hint(&format!(
                "Next: copy .env.example to .env and fill it, run `shipready verify`, and commit the files with {LOCK_FILE} and {STATE_DIR}/."
            ))
        );
    }
}

/// UTC time of the run as `YYYYMMDD-HHMMSS`, for the backup folder's name.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_is_a_sortable_utc_time() {
        let t = super::timestamp();
        assert_eq!(t.len(), 15, "{t}");
        assert!(t.starts_with("20"), "{t}");
        assert_eq!(&t[8..9], "-");
    }
}
