//! What a check concludes, and the pattern probe most checks are made of.
//! Apart from the checklist table so the check modules and the table need
//! not import each other.

use super::facts::Ctx;
use super::report::Evidence;
use super::walk::cached;

pub enum Outcome {
    Pass(Vec<Evidence>, String),
    Gap(Vec<Evidence>, String),
    Na(String),
}

/// A line matching `pattern` in a file of `kind` proves the property,
/// unless it also matches `unless`.
pub struct Probe {
    pub kind: fn(&str) -> bool,
    pub pattern: &'static str,
    pub unless: Option<&'static str>,
    pub detail: &'static str,
}

/// The first matching probe as a pass.
pub fn first_probe(ctx: &Ctx, probes: &[Probe]) -> Option<Outcome> {
    probes.iter().find_map(|p| {
        let unless = p.unless.map(cached);
        ctx.repo
            .grep(p.kind, cached(p.pattern))
            .into_iter()
            .find(|e| !unless.is_some_and(|u| u.is_match(&e.text)))
            .map(|e| Outcome::Pass(vec![e], p.detail.to_string()))
    })
}
