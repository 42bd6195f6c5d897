//! Comparing generated text: line endings folded, so a checkout with
//! Windows line endings is never mistaken for an edit.

use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// sha256 of `text` with CRLF folded to LF, as hex.
pub fn hash(text: &str) -> String {
    let digest = Sha256::digest(normalize_newlines(text).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn normalize_newlines(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_does_not_change_the_hash() {
        assert_eq!(hash("a\r\nb\r\n"), hash("a\nb\n"));
        assert_ne!(hash("a\nb\n"), hash("a\nc\n"));
    }
}
