//! Message text: [`MessageText::parse`] accepts what a person could have typed
//! and refuses the rest with the precise error code. Text is stored and
//! relayed exactly as sent (clients insert it as text, never as HTML).

use crate::protocol::{ErrorCode, Invalid};

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
        if raw.trim().is_empty() {
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
    }
}
