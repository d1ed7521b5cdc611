//! Who is who: [`MemberId`], the number of one connection in this process,
//! and [`ResumeToken`], a member's identity across connections and
//! instances. Both kinds of secret the server hands out (resume tokens and
//! long-polling session tokens) are drawn by [`new_secret`]: 128 bits from
//! the OS's random source, as 32 hex digits. Nothing here knows what a
//! secret is used for.

use std::sync::Arc;

/// One connection of this process (a WebSocket, or a polling session on
/// this instance), unique for the process's life.
pub(crate) type MemberId = u64;

/// A member's resume token: who they are across connections and instances.
pub(crate) type ResumeToken = Arc<str>;

/// Length of a secret in characters.
pub(crate) const SECRET_CHARS: usize = 32;

/// A fresh random secret.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_CHARS / 2];
    // unwrap: the OS random source does not fail on Linux or Windows once
    // the process runs; a server that cannot draw randomness must not go on.
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` has the shape of a secret this server hands out.
pub(crate) fn is_well_formed(s: &str) -> bool {
    s.len() == SECRET_CHARS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"G".repeat(SECRET_CHARS)));
    }
}
