//! "Did you mean ...?" for mistyped keys, words and preset names.

/// The candidate closest to `typed` by edit distance, when close enough to
/// be a likely typo (at most a third of the word's letters differ, and at
/// most 3).
pub fn closest<'a>(typed: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (typed.chars().count() / 3).clamp(1, 3);
    candidates
        .filter(|c| *c != typed)
        .map(|c| (strsim::damerau_levenshtein(typed, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        let presets = ["twilio-voice", "prisma-voice", "node-dashboard"];
        assert_eq!(
            closest("twilio-vocie", presets.iter().copied()),
            Some("twilio-voice")
        );
        assert_eq!(
            closest("domian", ["domain", "name"].into_iter()),
            Some("domain")
        );
        assert_eq!(closest("zzzzzz", presets.iter().copied()), None);
    }
}
