//! Room names: [`RoomName::parse`] is the only constructor, so every room the
//! core holds has a name that is safe in a URL fragment, a Redis key and a log
//! line. Names are lower-cased; `Support` and `support` are one room.

use std::fmt;

use crate::protocol::{ErrorCode, Invalid};

/// The room a client lands in when it names none.
pub(crate) const DEFAULT_ROOM: &str = "lobby";

/// Longest room name, in characters.
pub(crate) const MAX_ROOM_CHARS: usize = 32;

/// A validated, lower-cased room name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RoomName(String);

impl RoomName {
    /// Validates `raw`: 1 to 32 of `a-z`, `0-9`, `-`, `_` (case-folded).
    pub(crate) fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim().to_ascii_lowercase();
        if name.is_empty() || name.len() > MAX_ROOM_CHARS {
            return Err(Invalid::new(
                ErrorCode::InvalidRoom,
                format!("room name must be 1 to {MAX_ROOM_CHARS} characters"),
            ));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(Invalid::new(
                ErrorCode::InvalidRoom,
                "room name may hold a-z, 0-9, - and _ only",
            ));
        }
        Ok(RoomName(name))
    }

    /// The default room.
    pub(crate) fn default_room() -> Self {
        RoomName(DEFAULT_ROOM.to_owned())
    }

    /// The name as a string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_refuses_odd_names() {
        assert_eq!(RoomName::parse(" Support ").unwrap().as_str(), "support");
        assert_eq!(RoomName::parse("team_a-1").unwrap().as_str(), "team_a-1");
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse("a b").is_err());
        assert!(RoomName::parse("a/b").is_err());
        assert!(RoomName::parse("café").is_err());
        assert!(RoomName::parse(&"a".repeat(33)).is_err());
    }
}
