//! `shipready init`: resolve a profile, render, plan against the disk, and
//! write — or, with `--dry-run`, only say what would be written.

use std::path::Path;

use crate::answers;
use crate::apply::{self, Write};
use crate::cli::InitArgs;
use crate::error::{exit, Error};
use crate::interactive;
use crate::lock::{Lock, LOCK_FILE};
use crate::plan::{FileState, Plan};
use crate::preset::Preset;
use crate::render;
use crate::templates::Templates;
use crate::ui;

pub fn run(args: &InitArgs) -> Result<i32, Error> {
    let mut preset = args.preset.as_deref().map(Preset::find).transpose()?;
    let mut answer_args = args.answers.clone();
    // A person at a terminal without a preset gets questions; everything
    // else (CI, pipes, --yes) goes straight to validation, which lists every
    // missing answer at once.
    if preset.is_none() && !args.yes && ui::can_prompt() {
        let answers = interactive::questionnaire(args)?;
        answer_args.set = answers.sets;
        preset = answers.preset.as_deref().map(Preset::find).transpose()?;
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
        crate::profile::Profile::from_layers(&answers::layers(base, &answer_args)?)?
    } else {
        answers::resolve(preset.as_ref(), &answer_args)?
    };
    let templates = load_templates(args.templates.as_deref())?;
    let tree = render::render(&profile, &templates)?;
    let lock = Lock::read(&args.dir)?;
    let plan = Plan::compute(&args.dir, &tree, lock.as_ref())?;

    let blocked: Vec<_> = plan.changes.iter().filter(|c| c.locally_edited()).collect();
    if args.dry_run {
        print_plan(&plan, &args.dir, true, args.force);
        return Ok(exit::OK);
    }
    if !blocked.is_empty() && !args.force {
        return Err(Error::WouldOverwrite(
            blocked.iter().map(|c| args.dir.join(&c.path)).collect(),
        ));
    }

    let writes: Vec<Write<'_>> = plan
        .changes
        .iter()
        .filter(|c| c.state != FileState::Unchanged && c.state != FileState::Orphaned)
        .filter_map(|c| c.rendered.as_ref())
        .map(|f| Write {
            path: &f.path,
            contents: &f.contents,
            mode: f.mode,
        })
        .collect();
    let new_lock = apply::lock_for(&profile, preset.map(|p| p.name), &tree);
    let lock_changed = lock.as_ref() != Some(&new_lock);
    if writes.is_empty() && !lock_changed {
        println!(
            "Nothing to do: all {} files are up to date in {}.",
            tree.files.len(),
            args.dir.display()
        );
        return Ok(exit::OK);
    }
    apply::apply(&args.dir, &writes, &[], Some(&new_lock))?;
    print_plan(&plan, &args.dir, false, args.force);
    Ok(exit::OK)
}

pub fn load_templates(overlay: Option<&Path>) -> Result<Templates, Error> {
    match overlay {
        Some(dir) => Templates::with_overlay(dir),
        None => Ok(Templates::embedded()),
    }
}

fn print_plan(plan: &Plan, dir: &Path, dry_run: bool, force: bool) {
    let verb = |s: FileState| -> &'static str {
        match (s, force) {
            (FileState::New | FileState::Missing, _) => "create",
            (FileState::Outdated, _) => "update",
            (FileState::Unchanged, _) => "same",
            (FileState::Modified | FileState::Conflicting | FileState::Untracked, true) => {
                "replace"
            }
            (FileState::Modified | FileState::Conflicting | FileState::Untracked, false) => {
                "conflict"
            }
            (FileState::Orphaned, _) => "keep",
        }
    };
    for c in &plan.changes {
        println!("  {} {}", ui::state(verb(c.state), 8), c.path);
    }
    let written = plan
        .changes
        .iter()
        .filter(|c| !matches!(c.state, FileState::Unchanged | FileState::Orphaned))
        .count();
    let unchanged = plan.count(FileState::Unchanged);
    let orphaned = plan.count(FileState::Orphaned);
    let head = if dry_run { "Would write" } else { "Wrote" };
    println!(
        "{} {written} files ({unchanged} unchanged) in {} and {LOCK_FILE}.",
        ui::heading(head),
        dir.display()
    );
    if orphaned > 0 {
        println!(
            "{orphaned} files are no longer rendered by this profile; they were left in place and are no longer tracked."
        );
    }
    if dry_run {
        let blocked = plan.changes.iter().filter(|c| c.locally_edited()).count();
        if blocked > 0 && !force {
            println!(
                "{} existing files differ and would stop init; add --force to replace them.",
                blocked
            );
        }
    } else {
        println!(
            "{}",
            ui::hint("Next: copy .env.example to .env and fill it, run `shipready verify`, and commit the files with shipready.toml.")
        );
    }
}
