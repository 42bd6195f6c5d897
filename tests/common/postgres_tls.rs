//! A Postgres serving TLS with a certificate from a private CA made here
//! (openssl CLI), as RDS does with its own CAs, and a second, unrelated CA
//! a client must refuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::postgres::{running_as_root, Postgres};
use super::require_tool;

pub struct TlsPostgres {
    pub pg: Postgres,
    /// The CA that signed the server's certificate.
    pub ca: PathBuf,
    /// A CA that signed nothing the server presents.
    pub other_ca: PathBuf,
    _certs: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(require_tool("openssl"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA: `NAME.key` and `NAME.crt` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

impl TlsPostgres {
    /// The server's certificate names 127.0.0.1 only (an IP subjectAltName),
    /// so a client that checks the host name accepts 127.0.0.1 and refuses
    /// `localhost`.
    pub fn start() -> TlsPostgres {
        use std::os::unix::fs::PermissionsExt;
        let certs = tempfile::tempdir().unwrap();
        let d = certs.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        make_ca(d, "private-ca");
        make_ca(d, "other-ca");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "private-ca.crt",
                "-CAkey",
                "private-ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.crt",
            ],
        );
        // Postgres refuses a key others can read; it runs as nobody when the
        // tests are root.
        let key = d.join("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(&key, Some(65534), Some(65534)).unwrap();
        }
        for f in ["server.crt", "private-ca.crt", "other-ca.crt"] {
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let pg = Postgres::start_with_settings(&format!(
            "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            d.join("server.crt").display(),
            key.display()
        ));
        TlsPostgres {
            pg,
            ca: d.join("private-ca.crt"),
            other_ca: d.join("other-ca.crt"),
            _certs: certs,
        }
    }
}
