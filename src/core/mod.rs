//! The room core: pure rules and state, no actix, no tokio, no I/O (the
//! clock is passed in, effects are returned). [`chat_core`] takes client
//! frames and log entries and answers what to deliver to whom; it decides
//! through the [`backplane`] contract (with [`backplane::memory`], the
//! single-instance implementation), mirrors each room it has members in
//! ([`mirror`], with its [`history`] and its [`roster`]), and batches presence in big rooms
//! ([`presence_batch`]). [`rules`] parses what clients send; [`ids`] and
//! [`limits`] are the values everything shares; [`client_key`] names a
//! client by its subnet and [`bucket_map`] keeps rate buckets per client, which
//! [`instance_share`] shares between an instance's room shards; [`shrink`] gives memory
//! back. The core imports nothing of the crate but itself and
//! [`crate::protocol`] (checked by `tests/layout.rs`).

pub(crate) mod backplane;
pub(crate) mod bucket_map;
pub(crate) mod chat_core;
pub(crate) mod client_key;
pub(crate) mod history;
pub(crate) mod ids;
pub(crate) mod instance_share;
pub(crate) mod limits;
pub(crate) mod mirror;
pub(crate) mod presence_batch;
pub(crate) mod roster;
pub(crate) mod rules;
pub(crate) mod shrink;
