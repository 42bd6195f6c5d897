//! Validators and linters over the rendered files of every preset:
//! hadolint, compose, actionlint/zizmor/shellcheck, Terraform fmt and
//! checkov, kubectl/kubernetes-validate, mermaid. A missing tool fails the
//! test with the install command.

#[path = "../common/mod.rs"]
mod common;

mod architecture_doc;
mod compose;
mod container;
mod deploy_target;
mod kubernetes;
mod terraform;
mod validators;
mod workflows;
