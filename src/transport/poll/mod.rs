//! The long-polling transport: [`routes`] (the HTTP endpoints), [`session`]
//! (one actor per session, frames kept until acknowledged), [`registry`]
//! (the bounded map of session tokens) and [`cors`] (cross-origin use by
//! listed origins).

pub(crate) mod cors;
pub(crate) mod registry;
pub(crate) mod routes;
pub(crate) mod session;
