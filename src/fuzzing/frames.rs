//! Fuzz entry points for what clients send as text: a protocol frame (the
//! same parser serves a WebSocket text message and a polling body), the
//! polling bodies and query string, and the rules every name and message
//! goes through. Each panics when an invariant breaks, which the fuzzer
//! reports as a crash.

use actix_web::web::Query;

use crate::core::limits::Limits;
use crate::core::rules::message_text::MessageText;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::{RoomName, MAX_ROOM_CHARS};
use crate::protocol::{parse_client_frame, parse_client_value, ClientFrame};
use crate::transport::poll::routes::{opening_join, sent_frames, PollQuery, MAX_FRAMES_PER_SEND};
use crate::transport::poll::session::seq_of;

/// One client frame. A parsed frame writes back to JSON that parses to
/// the same frame; the polling path (JSON parsed first, then read as a
/// frame) accepts every frame the WebSocket path accepts, as the same
/// frame, and refuses with the same code what both refuse; the strings of
/// an accepted frame then go through the rules.
pub fn client_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_client_frame(text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        match (&parsed, parse_client_value(value)) {
            (Ok(frame), Ok(again)) => assert_eq!(*frame, again),
            (Ok(frame), Err(refusal)) => panic!("{frame:?} refused from its value: {refusal:?}"),
            (Err(first), Err(again)) => assert_eq!(first.code, again.code),
            // A key given twice: refused as text, the last one taken from
            // a value. Both are defensible; see docs/HARDENING.md.
            (Err(_), Ok(_)) => {}
        }
    }
    let Ok(frame) = parsed else { return };
    let written = serde_json::to_string(&frame).expect("a client frame serialises");
    assert_eq!(parse_client_frame(&written), Ok(frame.clone()), "{written}");
    let limits = Limits::default();
    match frame {
        ClientFrame::Join { nick, room, .. } => {
            check_nickname(&nick, limits.max_nick_chars);
            if let Some(room) = room {
                check_room(&room);
            }
        }
        ClientFrame::Nick { nick } => check_nickname(&nick, limits.max_nick_chars),
        ClientFrame::Say { text, .. } => check_text(text, limits.max_message_chars),
        ClientFrame::Typing { .. }
        | ClientFrame::Leave {}
        | ClientFrame::Ping {}
        | ClientFrame::History { .. }
        | ClientFrame::Roster { .. } => {}
    }
}

/// The polling endpoints' input; the first byte picks which: the body of
/// a send, the body of an open, or the query of a poll. A send is at most
/// [`MAX_FRAMES_PER_SEND`] frames, each the frame the WebSocket
/// path would read from its own text; an open is a `join` or refused.
pub fn poll(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(frames) = sent_frames(text) else {
                return;
            };
            // An empty array is an empty send, answered `accepted: 0`.
            assert!(frames.len() <= MAX_FRAMES_PER_SEND);
            if let Ok(serde_json::Value::Array(list)) = serde_json::from_str(text) {
                assert_eq!(list.len(), frames.len());
                for (value, frame) in list.iter().zip(&frames) {
                    if let Ok(alone) = parse_client_frame(&value.to_string()) {
                        assert_eq!(frame.as_ref(), Ok(&alone));
                    }
                }
            }
        }
        1 => {
            if let Ok(frame) = opening_join(rest) {
                assert!(matches!(frame, ClientFrame::Join { .. }));
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(query) = Query::<PollQuery>::from_query(text) {
                assert!(seq_of(query.cursor) <= query.cursor);
            }
        }
    }
}

/// The rules on a raw string; the first byte picks the limit of
/// characters. What a rule accepts, it accepts again, unchanged, and it
/// holds to what the rule promises.
pub fn rules(data: &[u8]) {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max_chars = usize::from(limit % 64) + 1;
    check_nickname(text, max_chars);
    check_room(text);
    check_text(text.to_owned(), max_chars * 32);
}

fn check_nickname(raw: &str, max_chars: usize) {
    let Ok(nick) = Nickname::parse(raw, max_chars) else {
        return;
    };
    let shown = nick.as_str();
    assert_eq!(shown, shown.trim());
    assert!((1..=max_chars).contains(&shown.chars().count()));
    assert!(!shown.chars().any(char::is_control));
    assert_eq!(Nickname::parse(shown, max_chars).as_ref(), Ok(&nick));
}

fn check_room(raw: &str) {
    let Ok(room) = RoomName::parse(raw) else {
        return;
    };
    let name = room.as_str();
    assert!((1..=MAX_ROOM_CHARS).contains(&name.len()));
    assert!(name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
    assert_eq!(RoomName::parse(name).as_ref(), Ok(&room));
}

fn check_text(raw: String, max_chars: usize) {
    let Ok(text) = MessageText::parse(raw, max_chars) else {
        return;
    };
    let text = text.into_string();
    assert!(text.chars().count() <= max_chars);
    assert!(
        !text.contains('\r'),
        "CR LF is taken as LF, a lone CR refused"
    );
    let again = MessageText::parse(text.clone(), max_chars).map(MessageText::into_string);
    assert_eq!(again.as_ref(), Ok(&text));
}
