//! One snapshot per preset holding the whole rendered tree, each file under
//! a header with its path and mode, so a template change reads as one diff.
//! Snapshots show what changed; the validator tests prove it is right.

mod common;

use shipready::core::render::render;
use shipready::core::templates::Templates;
use shipready::preset::Preset;
use shipready::profile::{Layer, Profile};

fn rendered_tree(preset: &Preset) -> String {
    let answers = Layer::from_assignments(&[format!("edge.domain={}", common::DOMAIN)]).unwrap();
    let profile = Profile::from_layers(&[preset.layer(), answers]).unwrap();
    let tree = render(&profile, &Templates::embedded()).unwrap();
    let mut out = String::new();
    for f in &tree.files {
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
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            description => preset.description.clone(),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(preset.name.clone(), tree);
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
