//! `shipready detect [DIR]`: what `init` would propose for a repository
//! (preset, every answer, its evidence and confidence) without asking or
//! writing. `init --yes` takes exactly this proposal.

use std::path::Path;

use serde::Serialize;

use super::{layer_of, Answer, Detection};
use crate::profile::{Layer, Profile};
use crate::ui;

/// Placeholders for the answers that have no default, so each detected (or
/// typed) answer can be checked against the profile's rules on its own.
pub fn placeholders() -> Layer {
    Layer::default()
        .with("service.name", "service")
        .with("edge.domain", "example.com")
}

#[derive(Debug, Clone, Serialize)]
pub struct PresetChoice {
    pub name: &'static str,
    pub reason: String,
}

/// A refused detected answer and the profile's reason.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    pub answer: Answer,
    pub reason: String,
}

/// What init proposes for a repository.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub preset: Option<PresetChoice>,
    /// The service's folder when it is not the repository's root.
    pub service_dir: Option<String>,
    pub framework: Option<String>,
    pub answers: Vec<Answer>,
    /// Detected answers the profile refuses (say node 16), left out.
    pub dropped: Vec<Dropped>,
}

impl Proposal {
    pub fn for_dir(dir: &Path) -> Proposal {
        let d = super::detect(dir);
        Proposal::from_detection(&d)
    }

    pub fn from_detection(d: &Detection) -> Proposal {
        let base = placeholders();
        let mut answers = Vec::new();
        let mut dropped = Vec::new();
        for a in d.answers() {
            let mut trial = answers.clone();
            trial.push(a.clone());
            match Profile::from_layers(&[base.clone(), layer_of(&trial)]) {
                Ok(_) => answers.push(a),
                Err(e) => dropped.push(Dropped {
                    answer: a,
                    reason: e.to_string(),
                }),
            }
        }
        Proposal {
            preset: d
                .suggested_preset()
                .map(|(name, reason)| PresetChoice { name, reason }),
            service_dir: d.service_dir.as_ref().map(|s| s.value.clone()),
            framework: d.framework.as_ref().map(|f| f.value.clone()),
            answers,
            dropped,
        }
    }

    /// The layer of accepted answers (above the preset, below --values/--set).
    pub fn layer(&self) -> Layer {
        layer_of(&self.answers)
    }
}

/// The proposal as `shipready detect` prints it.
pub fn render_text(p: &Proposal) -> String {
    let mut out = String::new();
    match &p.preset {
        Some(c) => out.push_str(&format!(
            "{} {} ({})\n",
            ui::heading("Preset:"),
            c.name,
            c.reason
        )),
        None => out.push_str(&format!(
            "{} none (no service manifest found)\n",
            ui::heading("Preset:")
        )),
    }
    if let Some(dir) = &p.service_dir {
        out.push_str(&format!("{} {dir}/\n", ui::heading("Service in:")));
    }
    if let Some(fw) = &p.framework {
        out.push_str(&format!("{} {fw}\n", ui::heading("Framework:")));
    }
    let width = p.answers.iter().map(|a| a.key.len()).max().unwrap_or(10);
    for a in &p.answers {
        out.push_str(&format!(
            "  {:<width$}  {:<28}  {:<6}  {}\n",
            a.key,
            a.value.to_string(),
            format!("{:?}", a.confidence).to_ascii_lowercase(),
            a.evidence
                .split_once(" — ")
                .map_or(a.evidence.as_str(), |(_, o)| o)
        ));
    }
    for d in &p.dropped {
        out.push_str(&format!(
            "  {} {}={} ({})\n",
            ui::hint("not used:"),
            d.answer.key,
            d.answer.value,
            d.reason
        ));
    }
    out.push_str(&format!(
        "{}\n",
        ui::hint(
            "`shipready init --yes --set edge.domain=…` writes this; `shipready init` asks first."
        )
    ));
    out
}
