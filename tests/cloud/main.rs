//! Terraform planned by the real CLI and AWS provider (from a local mirror,
//! mocked API, no network): the ECS and EKS trees and the cloud edge.

#[path = "../common/mod.rs"]
mod common;

mod cloud_edge;
mod terraform_eks;
mod terraform_plan;
