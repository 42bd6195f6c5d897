//! The generated files run for real against servers started on 127.0.0.1:
//! nginx, Postgres, Redis, Prometheus and Alertmanager, the exporters,
//! Node and Python apps, locust. Each server uses a free port and a temp
//! dir and is stopped by its own pid.

#[path = "../common/mod.rs"]
mod common;

mod alert_routing;
mod backup;
mod edge;
mod exporter_health;
mod keep_alive;
mod kubernetes_ops;
mod loadtest;
mod metrics;
mod observability;
mod postgres_tls;
mod queues;
mod redis;
mod runbook;
mod webhooks;
mod ws_alert;
