//! The HTTP edge that is not a transport: [`check`] (the transport check
//! page and what it asks), [`origin`] and [`client_addr`]
//! (who is asking, and may they), [`client_gate`] (how often and how many
//! connections a client may open), [`error`] (the one JSON error shape and
//! its status codes), [`page`] (the chat page and its assets) and [`ops`]
//! (health, readiness, metrics). Handlers here read [`crate::http::state::AppState`].

pub(crate) mod check;
pub(crate) mod client_addr;
pub(crate) mod client_gate;
pub(crate) mod error;
pub(crate) mod ops;
pub(crate) mod origin;
pub(crate) mod page;
pub(crate) mod state;
