//! The patterns behind the field table, as plain functions over ASCII:
//! anything outside a pattern's few characters, look-alike letters
//! included, is refused.

/// nginx hashes `server_name`s into buckets of `server_names_hash_bucket_size`
/// bytes, 64 by default (the CPU's cache line); on a 64-bit machine a name
/// fits when 8 + (its length + 2, rounded up to 8) + 8 <= 64, so at most 46
/// characters. A longer name makes `nginx -t` fail at start.
pub const MAX_DOMAIN_LEN: usize = 46;

pub fn is_slug(x: &str) -> bool {
    let b = x.as_bytes();
    (2..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !x.contains("--")
}

pub(super) fn is_queue_name(x: &str) -> bool {
    (1..=64).contains(&x.len())
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(&c))
        && !x.starts_with(['-', '.'])
}

pub(super) fn is_identifier(x: &str) -> bool {
    let b = x.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

pub(super) fn is_digits(x: &str) -> bool {
    !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit())
}

/// A DNS name (RFC 1035 lengths), with an alphabetic top-level label.
pub fn is_hostname(x: &str) -> bool {
    if x.len() > 253 || !x.contains('.') {
        return false;
    }
    x.split('.').all(|label| {
        let b = label.as_bytes();
        (1..=63).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    }) && x
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().any(|c| c.is_ascii_alphabetic()))
}

/// The service's own name: a DNS name nginx can hash as a `server_name`.
pub(super) fn is_domain(x: &str) -> bool {
    is_hostname(x) && x.len() <= MAX_DOMAIN_LEN
}

pub(super) fn is_email(x: &str) -> bool {
    let Some((local, host)) = x.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with(['.', '-'])
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._+-".contains(&c))
        && is_hostname(host)
}

pub(super) fn is_origin(x: &str) -> bool {
    if let Some(rest) = x.strip_prefix("http://localhost") {
        return rest.is_empty()
            || (rest.starts_with(':') && is_digits(&rest[1..]) && rest.len() <= 6);
    }
    let Some(rest) = x.strip_prefix("https://") else {
        return false;
    };
    match rest.split_once(':') {
        Some((host, port)) => is_hostname(host) && is_digits(port) && port.len() <= 5,
        None => is_hostname(rest),
    }
}

pub fn is_url_path(x: &str) -> bool {
    x.starts_with('/')
        && x.len() <= 200
        && !x.contains("..")
        && !x.contains("//")
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~/".contains(&c))
}

/// Path parts that must never be published by nginx or hidden under a
/// tmpfs: the app itself, its parent, version control and secrets.
const FORBIDDEN_DIR_PARTS: &[&str] = &[".", "..", ".git", "secrets", ".ssh", ".aws"];

/// A directory inside the app, given relative to it.
pub(super) fn is_app_dir(x: &str) -> bool {
    !x.is_empty()
        && x.len() <= 200
        && !x.starts_with('/')
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._/".contains(&c))
        && !x.starts_with('-')
        && x.trim_end_matches('/').split('/').all(|part| {
            !part.is_empty() && !FORBIDDEN_DIR_PARTS.contains(&part) && !part.starts_with(".env")
        })
}

pub(super) fn is_command_word(x: &str) -> bool {
    !x.is_empty()
        && x.len() <= 200
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._/:=@+,*".contains(&c))
        && !x.split(['/', '=', ':', ',']).any(|part| part == "..")
}

pub(super) fn is_pinned_image(x: &str) -> bool {
    let (name, pin) = if let Some((n, d)) = x.split_once('@') {
        (
            n,
            d.strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit())),
        )
    } else if let Some((n, tag)) = x.rsplit_once(':') {
        (
            n,
            tag != "latest"
                && !tag.contains('/')
                && tag
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
                && !tag.is_empty(),
        )
    } else {
        (x, false)
    };
    pin && !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(['-', '.', '/'])
        && !name.split('/').any(|p| p == ".." || p.is_empty())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"./-_:".contains(&c))
}

pub(super) fn is_region(x: &str) -> bool {
    let parts: Vec<&str> = x.split('-').collect();
    (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
        && is_digits(parts[parts.len() - 1])
        && parts[parts.len() - 1].len() <= 2
}

pub(super) fn is_instance_class(x: &str, prefix: &str) -> bool {
    x.strip_prefix(prefix).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('.').collect();
        parts.len() == 2
            && parts.iter().all(|p| {
                (1..=16).contains(&p.len())
                    && p.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    })
}
pub(super) fn is_db_class(x: &str) -> bool {
    is_instance_class(x, "db.")
}
pub(super) fn is_cache_type(x: &str) -> bool {
    is_instance_class(x, "cache.")
}

pub(super) fn is_cidr16(x: &str) -> bool {
    let Some(net) = x.strip_suffix("/16") else {
        return false;
    };
    let octets: Vec<&str> = net.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| is_digits(o) && o.len() <= 3 && o.parse::<u16>().is_ok_and(|n| n <= 255))
        && octets[2] == "0"
        && octets[3] == "0"
}

/// GitHub's own rules: owners are letters, digits and single inner '-'
/// (at most 39); repository names letters, digits, '.', '_', '-'.
pub(super) fn is_github_repo(x: &str) -> bool {
    let Some((owner, name)) = x.split_once('/') else {
        return false;
    };
    let owner_ok = (1..=39).contains(&owner.len())
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--")
        && owner
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-');
    let name_ok = (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    owner_ok && name_ok
}

/// `git check-ref-format --branch`'s rules, within a conservative character
/// set (no '@', '~', '^', ':', '?', '*', '[', '\\' or spaces at all).
pub fn is_branch(x: &str) -> bool {
    !x.is_empty()
        && x.len() <= 100
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/".contains(&c))
        && !x.starts_with(['-', '/'])
        && !x.ends_with(['/', '.'])
        && !x.contains("..")
        && !x.contains("//")
        && x != "HEAD"
        && x.split('/')
            .all(|part| !part.starts_with('.') && !part.ends_with(".lock"))
}

pub(super) fn is_semver(x: &str) -> bool {
    let parts: Vec<&str> = x.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| is_digits(p) && p.len() <= 6)
}

pub(super) fn is_csp(x: &str) -> bool {
    !x.trim().is_empty()
        && x.len() <= 1000
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b" -:;/.*'+=_".contains(&c))
}

pub(super) fn is_https_url(x: &str) -> bool {
    x.strip_prefix("https://").is_some_and(|rest| {
        let host = rest.split('/').next().unwrap_or("");
        is_hostname(host)
            && rest.len() <= 500
            && !rest.contains("..")
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~/#".contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(is_hostname("voice.example.com"));
        assert!(!is_hostname("localhost"));
        assert!(!is_hostname("-a.com"));
        assert!(is_domain(&format!("{}.com", "a".repeat(42))));
        assert!(!is_domain(&format!("{}.com", "a".repeat(43))));
        assert!(is_pinned_image("ghcr.io/acme/inference:1.4.2"));
        assert!(!is_pinned_image("ghcr.io/acme/inference:latest"));
        assert!(!is_pinned_image("ghcr.io/acme/inference"));
        assert!(is_region("eu-west-2") && is_region("us-gov-west-1"));
        assert!(is_origin("https://app.example.com") && is_origin("http://localhost:5173"));
        assert!(!is_origin("http://app.example.com"));
        assert!(is_cidr16("10.40.0.0/16") && !is_cidr16("10.40.1.0/24"));
        for ok in ["dist", "frontend/dist", ".next/cache", "public/"] {
            assert!(is_app_dir(ok), "{ok}");
        }
        for bad in [
            ".",
            "./",
            "..",
            "secrets",
            ".git",
            "a/../b",
            "/app",
            "x/secrets",
            ".env",
        ] {
            assert!(!is_app_dir(bad), "{bad}");
        }
        assert!(is_github_repo("acme/voice-agent") && !is_github_repo("../.."));
        assert!(is_branch("main") && is_branch("release/1.2") && !is_branch("."));
        assert!(is_command_word("--port=8000") && !is_command_word("../../etc/x"));
    }
}
