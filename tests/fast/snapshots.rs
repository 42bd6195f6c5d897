//! One snapshot per preset holding the whole rendered tree, each file under
//! a header with its path and mode, so a template change reads as one diff.
//! Snapshots show what changed; the validator tests prove it is right.

use crate::common;

use shipready::core::render::render;
use shipready::core::templates::Templates;
use shipready::preset::Preset;
use shipready::profile::{Layer, Profile};

fn rendered_tree(preset: &Preset) -> String {
    rendered_files(preset, &[], "")
}

/// The files under `prefix` of the preset's render with `sets` answered too.
fn rendered_files(preset: &Preset, sets: &[&str], prefix: &str) -> String {
    let mut assignments = vec![format!("edge.domain={}", common::DOMAIN)];
    assignments.extend(sets.iter().map(|s| s.to_string()));
    let answers = Layer::from_assignments(&assignments).unwrap();
    let profile = Profile::from_layers(&[preset.layer(), answers]).unwrap();
    let tree = render(&profile, &Templates::embedded()).unwrap();
    let mut out = String::new();
    for f in tree.files.iter().filter(|f| f.path.starts_with(prefix)) {
        out.push_str(&format!("──────── {} ({:o}) ────────\n", f.path, f.mode));
        out.push_str(&f.contents);
        if !f.contents.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[test]
fn every_preset_renders_its_whole_tree() {
    for preset in Preset::all() {
        let tree = rendered_tree(&preset);
        insta::with_settings!({
            snapshot_path => "../../snapshots",
            prepend_module_to_snapshot => false,
            description => preset.description.clone(),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(preset.name.clone(), tree);
        });
    }
}

/// The Kubernetes manifests of each preset (`deploy.target=kubernetes`);
/// the rest of that tree is the same as in the snapshot above.
#[test]
fn every_preset_renders_its_kubernetes_manifests() {
    for preset in Preset::all() {
        let tree = rendered_files(&preset, &["deploy.target=kubernetes"], "deploy/k8s/");
        assert!(!tree.is_empty(), "{}", preset.name);
        insta::with_settings!({
            snapshot_path => "../../snapshots",
            prepend_module_to_snapshot => false,
            description => preset.description.clone(),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("{}.kubernetes", preset.name), tree);
        });
    }
}

#[test]
fn rendering_is_deterministic() {
    for preset in Preset::all() {
        assert_eq!(
            rendered_tree(&preset),
            rendered_tree(&preset),
            "{}",
            preset.name
        );
    }
}
