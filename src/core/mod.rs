//! The core every command shares, in the order data flows through it:
//! templates and catalog → render → plan (against the disk and the lock) →
//! apply. Commands call into it and never into each other.

pub mod apply;
#[cfg(target_os = "linux")]
mod beneath;
pub mod catalog;
pub mod fsio;
pub mod lock;
pub mod merge;
pub mod parallel;
pub mod plan;
pub mod project;
pub mod render;
pub mod templates;
pub mod text;
