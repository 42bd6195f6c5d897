//! Node keeps idle connections open longer than the AWS load balancer does:
//! ECS gives every Node app KEEP_ALIVE_TIMEOUT above alb.tf's idle timeout
//! (Next's standalone server reads it), and an Express server wired as
//! src/metrics.cjs documents really keeps an idle connection past Node's
//! default 5 s, where one left at the default closes it.

use crate::common;

use std::process::Command;

use common::{hooks, init_preset, run_json};

/// `idle_timeout = N` in alb.tf: N.
fn alb_idle_timeout(alb: &str) -> u64 {
    alb.lines()
        .find_map(|l| l.trim().strip_prefix("idle_timeout = "))
        .expect("alb.tf sets idle_timeout")
        .trim()
        .parse()
        .unwrap()
}

/// ecs.tf's KEEP_ALIVE_TIMEOUT, in ms.
fn keep_alive_ms(ecs: &str) -> u64 {
    let needle = "{ name = \"KEEP_ALIVE_TIMEOUT\", value = \"";
    let start = ecs.find(needle).expect("ecs.tf sets KEEP_ALIVE_TIMEOUT") + needle.len();
    ecs[start..].split('"').next().unwrap().parse().unwrap()
}

#[test]
fn every_node_app_outlasts_the_load_balancers_idle_timeout() {
    let mut checked = 0;
    for preset in common::presets() {
        let run = init_preset(&preset);
        if !run.path().join("src/metrics.cjs").exists() {
            // Not a Node app: uvicorn's --timeout-keep-alive covers it.
            assert!(
                !run.read("infra/terraform/ecs.tf")
                    .contains("KEEP_ALIVE_TIMEOUT"),
                "{preset}"
            );
            continue;
        }
        let idle = alb_idle_timeout(&run.read("infra/terraform/alb.tf"));
        let keep = keep_alive_ms(&run.read("infra/terraform/ecs.tf"));
        assert!(
            keep > idle * 1000,
            "{preset}: keep-alive {keep} ms is not above the ALB's {idle} s"
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "four Node presets");
}

/// Two Express servers, one wired with metrics.keepAlive() under the ECS
/// setting and one left at Node's default; each gets a request, then a
/// second on the same agent after 6 s of idleness.
const SERVERS: &str = r#"
const http = require("http");
const express = require("express");
const metrics = require(process.env.METRICS_MODULE);

function serve(wire) {
  const app = express();
  app.get("/", (req, res) => res.send("ok"));
  const server = app.listen(0, "127.0.0.1");
  if (wire) metrics.keepAlive(server);
  return new Promise((resolve) => server.on("listening", () => resolve(server)));
}

function get(port, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(req.reusedSocket));
    });
    // A kept socket the server closed just as it was reused: the same
    // verdict as a fresh socket (the idle connection was not kept).
    req.on("error", (e) => (req.reusedSocket && e.code === "ECONNRESET" ? resolve("reset") : reject(e)));
  });
}

async function probe(server) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const port = server.address().port;
  await get(port, agent);
  await new Promise((r) => setTimeout(r, 6000));
  const reused = await get(port, agent);
  agent.destroy();
  server.close();
  return { keepAliveTimeout: server.keepAliveTimeout, headersTimeout: server.headersTimeout, reused };
}

(async () => {
  const [wired, plain] = await Promise.all([serve(true), serve(false)]);
  const [w, p] = await Promise.all([probe(wired), probe(plain)]);
  console.log(JSON.stringify({ wired: w, plain: p }));
})();
"#;

#[test]
fn an_express_server_wired_as_documented_keeps_an_idle_connection() {
    let run = init_preset("twilio-voice");
    let module = run.read("src/metrics.cjs");
    assert!(
        module.contains("metrics.keepAlive(app.listen("),
        "the module's usage does not show the wiring"
    );
    let keep = keep_alive_ms(&run.read("infra/terraform/ecs.tf"));
    let v = run_json(
        hooks::node()
            .args(["-e", SERVERS])
            .env("METRICS_MODULE", run.path().join("src/metrics.cjs"))
            .env("KEEP_ALIVE_TIMEOUT", keep.to_string()),
    );
    assert_eq!(v["wired"]["keepAliveTimeout"], keep, "{v}");
    assert!(
        v["wired"]["headersTimeout"].as_u64().unwrap() > keep,
        "headersTimeout must be above keepAliveTimeout: {v}"
    );
    assert_eq!(
        v["wired"]["reused"], true,
        "the wired server closed an idle connection: {v}"
    );
    // The control: Node's default closes it, which is what the ALB hits
    // (seen as a fresh socket, or as a reset when the close races the reuse).
    assert_ne!(v["plain"]["reused"], true, "{v}");
    assert_eq!(v["plain"]["keepAliveTimeout"], 5000, "{v}");
}

#[test]
fn keep_alive_is_left_alone_without_the_setting() {
    let run = init_preset("twilio-voice");
    let v = run_json(
        Command::new(common::require_tool("node"))
            .args([
                "-e",
                "const m = require(process.env.M); const s = m.keepAlive(require('http').createServer()); \
                 console.log(JSON.stringify({ k: s.keepAliveTimeout }));",
            ])
            .env("M", run.path().join("src/metrics.cjs"))
            .env("KEEP_ALIVE_TIMEOUT", "not-a-number"),
    );
    assert_eq!(v["k"], 5000, "{v}");
}
