//! Delivery: the one owner of "frames for member M reach M's client", for
//! both transports. The ChatRoom's orders for one event reach each worker
//! thread's [`hub`] as one message; the hub reserves every frame in the
//! member's [`backlog`] (one byte bound, one "too slow" rule) and hands it
//! to the member's sink: a WebSocket's [`outbox`], whose writer it wakes
//! at once or after a short hold ([`coalesce`]), or a polling session's
//! actor ([`member::PollFeed`]). [`member`] is all a transport sees of it.
//! Delivery imports only the core's ids and the metrics; it reaches the
//! room through recipients, never by name.

pub(crate) mod backlog;
pub(crate) mod coalesce;
pub(crate) mod hub;
pub(crate) mod member;
pub(crate) mod outbox;
