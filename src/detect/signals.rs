//! Evidence found in application source rather than in a manifest: a
//! Twilio app can answer with TwiML strings and never install the SDK.
//! Each row is a pattern and what it shows; the first match is evidence.

use regex::Regex;
use std::path::Path;
use std::sync::OnceLock;

use super::evidence::read;
use crate::profile::VoiceProvider;

pub(crate) struct Signal {
    pub provider: VoiceProvider,
    pub pattern: &'static str,
    pub what: &'static str,
}

pub(crate) const VOICE_SIGNALS: &[Signal] = &[
    Signal {
        provider: VoiceProvider::Twilio,
        pattern: r"<Stream\s+url=",
        what: "a TwiML <Stream> (Twilio Media Streams)",
    },
    Signal {
        provider: VoiceProvider::Twilio,
        pattern: r"<Response>\s*<(Say|Connect|Dial|Gather|Play)\b",
        what: "a TwiML response",
    },
    Signal {
        provider: VoiceProvider::Twilio,
        pattern: r"(?i)x-twilio-signature",
        what: "the X-Twilio-Signature header",
    },
    Signal {
        provider: VoiceProvider::Twilio,
        pattern: r#"['"]/incoming-call['"]"#,
        what: "an /incoming-call webhook route",
    },
    Signal {
        provider: VoiceProvider::Ringcentral,
        pattern: r"platform(\.devtest)?\.ringcentral\.com",
        what: "the RingCentral platform URL",
    },
];

fn compiled() -> &'static Vec<Regex> {
    static R: OnceLock<Vec<Regex>> = OnceLock::new();
    R.get_or_init(|| {
        VOICE_SIGNALS
            .iter()
            .map(|s| Regex::new(s.pattern).expect("signal patterns are valid"))
            .collect()
    })
}

/// The first voice signal in `sources` (paths under `root`, in order):
/// provider and "… — what in file:line".
pub(crate) fn voice(root: &Path, sources: &[String]) -> Option<(VoiceProvider, String)> {
    let res = compiled();
    for rel in sources {
        let Some(src) = read(root, rel) else { continue };
        // The earliest match in the file, searched over the whole text.
        let hit = VOICE_SIGNALS
            .iter()
            .zip(res)
            .filter_map(|(sig, re)| re.find(&src.text).map(|m| (m.start(), sig)))
            .min_by_key(|(at, _)| *at);
        if let Some((at, sig)) = hit {
            let line = src.text[..at].matches('\n').count() + 1;
            return Some((sig.provider, format!("{} in {rel}:{line}", sig.what)));
        }
    }
    None
}
