//! Nicknames: the only way to get a [`Nickname`] is [`Nickname::parse`], so
//! the room core never sees an empty, over-long, invisible or look-alike name.
//!
//! A nickname is 1 to `max_chars` characters after trimming: letters and
//! digits of any script, single inner spaces, and `-` `_` `.` `'`. That rules
//! out control, format (zero-width, bidi) and other invisible characters by
//! construction. A nickname is written in one script (Unicode TR #39's
//! mixed-script test, where digits and punctuation go with any script), so
//! `Аnn` with a Cyrillic `А` is refused. Uniqueness is decided on
//! [`Nickname::key`], the confusable skeleton (TR #39) of the NFKC form,
//! lower-cased, so `Ann`, `ann`, fullwidth `Ａｎｎ` and an all-Cyrillic
//! `Аnn` look-alike are one name. This module knows nothing of rooms.

use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{skeleton, MixedScript};

use crate::protocol::{ErrorCode, Invalid};

/// Characters allowed besides letters, digits and inner spaces.
const ALLOWED_PUNCTUATION: [char; 4] = ['-', '_', '.', '\''];

/// Letters by Unicode category that render as nothing (Hangul and Khmer
/// fillers), which would make a blank or look-alike nickname.
const INVISIBLE_LETTERS: [char; 6] = [
    '\u{115F}', '\u{1160}', '\u{17B4}', '\u{17B5}', '\u{3164}', '\u{FFA0}',
];

/// A validated nickname, as the user typed it (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nickname {
    display: String,
    key: String,
}

/// A refusal of a nickname; the text is shown to the user.
fn invalid(message: impl Into<String>) -> Invalid {
    Invalid::new(ErrorCode::InvalidNick, message)
}

impl Nickname {
    /// Validates `raw` against the rules above.
    pub(crate) fn parse(raw: &str, max_chars: usize) -> Result<Self, Invalid> {
        let display = raw.trim();
        let count = display.chars().count();
        if count == 0 {
            return Err(invalid("nickname is empty"));
        }
        if count > max_chars {
            return Err(invalid(format!(
                "nickname is longer than {max_chars} characters"
            )));
        }
        if display.contains("  ") {
            return Err(invalid("nickname has consecutive spaces"));
        }
        if let Some(bad) = display.chars().find(|&c| {
            !(c.is_alphanumeric() || c == ' ' || ALLOWED_PUNCTUATION.contains(&c))
                || INVISIBLE_LETTERS.contains(&c)
        }) {
            return Err(invalid(format!(
                "nickname may hold letters, digits, spaces and - _ . ' only (found U+{:04X})",
                bad as u32
            )));
        }
        if !display.is_single_script() {
            return Err(invalid(
                "nickname mixes letters of several scripts (such as Latin and Cyrillic)",
            ));
        }
        // The skeleton of what is seen (capitals included: Cyrillic `В`
        // looks like `B`, its lower case `в` not like `b`), then folded.
        let seen = display.nfkc().collect::<String>();
        let key: String = skeleton(&seen).collect::<String>().to_lowercase();
        Ok(Nickname {
            display: display.to_owned(),
            key,
        })
    }

    /// The nickname as shown to others.
    pub(crate) fn as_str(&self) -> &str {
        &self.display
    }

    /// The comparison key: two nicknames with equal keys are the same name.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Nickname {
        Nickname::parse(raw, 24).unwrap()
    }

    fn bad(raw: &str) -> bool {
        Nickname::parse(raw, 24).is_err()
    }

    #[test]
    fn accepts_ordinary_names_in_any_script() {
        assert_eq!(ok("  ann  ").as_str(), "ann");
        assert_eq!(ok("Mary Jane").as_str(), "Mary Jane");
        assert_eq!(ok("o'brien-2_x.y").as_str(), "o'brien-2_x.y");
        assert_eq!(ok("Zoë").as_str(), "Zoë");
        assert_eq!(ok("東京").as_str(), "東京");
    }

    #[test]
    fn refuses_empty_long_and_spaced_names() {
        assert!(bad(""));
        assert!(bad("   "));
        assert!(bad(&"a".repeat(25)));
        assert!(!bad(&"a".repeat(24)));
        assert!(bad("a  b"));
    }

    #[test]
    fn refuses_control_and_invisible_characters() {
        for raw in [
            "ann\u{0}",
            "a\nb",
            "a\u{200B}b",
            "a\u{200D}b",
            "\u{202E}nna",
            "a\u{2060}b",
            "a\u{FEFF}",
            "a\u{00AD}b",
            "ann\u{3164}",
            "a\u{2800}b",
            "<b>",
            "ann!",
            "a\u{E0041}",
        ] {
            assert!(bad(raw), "{raw:?} should be refused");
        }
    }

    #[test]
    fn mixed_scripts_are_refused_and_look_alikes_collide() {
        // A Cyrillic А before Latin letters.
        assert!(bad("\u{0410}nn"));
        assert!(bad("p\u{0430}ypal"));
        // Whole-script look-alikes are allowed, and take the same name.
        assert_eq!(ok("\u{0410}\u{0412}\u{0415}").key(), ok("ABE").key());
        assert_eq!(ok("\u{0440}\u{0430}\u{0443}").key(), ok("pay").key());
        // Digits go with any script.
        assert!(!bad("Иван2"));
        assert!(!bad("Zoë 2"));
    }

    #[test]
    fn look_alikes_share_one_key() {
        assert_eq!(ok("Ann").key(), ok("ann").key());
        assert_eq!(ok("ＡＮＮ").key(), ok("ann").key());
        assert_ne!(ok("ann").key(), ok("anne").key());
    }
}
