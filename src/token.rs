//! Unguessable tokens (128 bits from the OS's random source, as 32 hex
//! digits): resume tokens today, long-polling session tokens tomorrow.

/// Length of a token in characters.
pub const TOKEN_CHARS: usize = 32;

/// A fresh random token.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_CHARS / 2];
    // unwrap: the OS random source does not fail on Linux or Windows once
    // the process runs; a server that cannot draw randomness must not go on.
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` has the shape of a token this server hands out.
pub fn is_well_formed(s: &str) -> bool {
    s.len() == TOKEN_CHARS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"G".repeat(TOKEN_CHARS)));
    }
}
