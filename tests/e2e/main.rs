//! The reference apps under tests/apps, built as the generated Dockerfile
//! builds them and run behind the generated stack (nginx, Postgres, Redis,
//! headless Chromium).

#[path = "../common/mod.rs"]
mod common;

mod fastapi;
mod fastapi_installs;
mod next;
mod prisma;
mod ringcentral;
mod twilio;
