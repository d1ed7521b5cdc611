//! Parse, don't validate: one type per rule of what a client may send, each
//! built only through its `parse`, which answers the same [`Invalid`] shape
//! (a stable error code and a readable message) on refusal. And the rate
//! limit's bucket. Pure: no actix, no I/O.

pub(crate) mod message_text;
pub(crate) mod nickname;
pub(crate) mod rate_limit;
pub(crate) mod room_name;
