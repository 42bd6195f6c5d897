//! The edge and cache validators and their sandboxes under the one path the
//! test suite imports them by.

pub use super::nginx::{GIXY, NGINX};
pub use super::redis::REDIS;
pub use super::sandbox::nginx::{
    http2_as_listen_parameter, local_nginx_version, nginx_sandbox, NginxPorts, NginxSandbox,
    HTTP2_DIRECTIVE_SINCE,
};
pub use super::sandbox::redis::{redis_sandbox, RedisSandbox};
