//! Message text: [`MessageText::parse`] accepts what a person could have typed
//! and refuses the rest with the precise error code. Text is stored and
//! relayed exactly as sent (clients insert it as text, never as HTML).

use crate::protocol::{ErrorCode, Invalid};

/// Characters that show nothing on their own (Unicode's
/// Default_Ignorable_Code_Point, and the fillers that render blank): a
/// message of these and white space only is empty.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A validated message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageText(String);

impl MessageText {
    /// Refuses empty or white-space-only text, text over `max_chars`
    /// characters, and control characters other than newline and tab.
    /// Windows line ends (CR LF) are taken as newlines.
    pub(crate) fn parse(raw: String, max_chars: usize) -> Result<Self, Invalid> {
        let raw = if raw.contains('\r') {
            raw.replace("\r\n", "\n")
        } else {
            raw
        };
        if raw.chars().all(|c| c.is_whitespace() || invisible(c)) {
            return Err(Invalid::new(ErrorCode::EmptyMessage, "message is empty"));
        }
        let chars = raw.chars().count();
        if chars > max_chars {
            return Err(Invalid::new(
                ErrorCode::MessageTooLong,
                format!("message has {chars} characters; the limit is {max_chars}"),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(Invalid::new(
                ErrorCode::InvalidText,
                "message holds control characters",
            ));
        }
        if raw.chars().any(|c| ('\u{202A}'..='\u{202E}').contains(&c)) {
            return Err(Invalid::new(
                ErrorCode::InvalidText,
                "message holds bidirectional embedding or override characters (U+202A to U+202E)",
            ));
        }
        Ok(MessageText(raw))
    }

    /// Gives the text back.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> Option<ErrorCode> {
        MessageText::parse(raw.to_owned(), 10).err().map(|e| e.code)
    }

    #[test]
    fn sorts_bad_text_by_code() {
        assert_eq!(code("hello"), None);
        assert_eq!(code("two\nlines"), None);
        assert_eq!(code("   \n\t "), Some(ErrorCode::EmptyMessage));
        assert_eq!(code(""), Some(ErrorCode::EmptyMessage));
        assert_eq!(code("01234567890"), Some(ErrorCode::MessageTooLong));
        assert_eq!(
            code("éééééééééé"),
            None,
            "the limit counts characters, not bytes"
        );
        assert_eq!(code("bell\u{7}"), Some(ErrorCode::InvalidText));
        assert_eq!(code("crlf\r\nok"), None);
        assert_eq!(code("lone\rcr"), Some(ErrorCode::InvalidText));
        // Nothing visible: zero-width and other invisible characters only.
        assert_eq!(code("\u{200B}\u{200B}"), Some(ErrorCode::EmptyMessage));
        assert_eq!(
            code(" \u{2060}\u{FEFF}\u{3164}"),
            Some(ErrorCode::EmptyMessage)
        );
        assert_eq!(code("a\u{200D}b"), None, "a joiner between letters is fine");
        // A right-to-left override (the "txt.exe" trick) is refused;
        // marks and isolates, which right-to-left text needs, are not.
        assert_eq!(code("\u{202E}exe.txt"), Some(ErrorCode::InvalidText));
        assert_eq!(code("\u{200F}שלום"), None);
        assert_eq!(code("\u{2067}שלום\u{2069}"), None);
    }
}
