//! Which preset is closest to what was detected. Detected answers are laid
//! over the preset's, so the preset matters for what detection cannot see
//! (alert thresholds, sidecars) and must not bring in what the repository
//! lacks: prisma-voice only with Prisma, twilio-voice otherwise.

use super::Detection;
use crate::profile::{Runtime, VoiceProvider};

impl Detection {
    /// The preset closest to what was found, with the reason.
    pub fn suggested_preset(&self) -> Option<(&'static str, String)> {
        let runtime = self.runtime.as_ref()?.value;
        let voice = self.voice.as_ref().map(|v| v.value);
        let worker = self.worker.is_some();
        let prisma = self
            .migrate_command
            .as_ref()
            .is_some_and(|m| m.value.iter().any(|w| w == "prisma"));
        Some(match (runtime, voice) {
            (Runtime::Fastapi, _) => ("fastapi-three-tier", "a FastAPI service".to_string()),
            (Runtime::Node, Some(VoiceProvider::Ringcentral)) => (
                "ringcentral-hold-hunter",
                "a Node service taking RingCentral webhooks".to_string(),
            ),
            (Runtime::Node, Some(VoiceProvider::Twilio)) if prisma && !worker => (
                "prisma-voice",
                "a Node service taking Twilio webhooks, with Prisma".to_string(),
            ),
            (Runtime::Node, Some(VoiceProvider::Twilio)) => (
                "twilio-voice",
                "a Node service taking Twilio webhooks".to_string(),
            ),
            (Runtime::Node, _) if self.postgres.as_ref().is_some_and(|p| p.value) => (
                "node-dashboard",
                "a Node service with Postgres and no voice provider".to_string(),
            ),
            (Runtime::Node, _) => ("node-dashboard", "a Node service".to_string()),
        })
    }
}
