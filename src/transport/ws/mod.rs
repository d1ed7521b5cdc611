//! The WebSocket transport: [`session`] (the route and one actor per
//! connection), [`heartbeat`] (one ping timer per worker thread),
//! [`upgrade`] (carries upgraded connections outside actix-http's HTTP/1
//! dispatcher) and [`socket`] (the raw socket, to cut a client that stopped
//! reading).

pub(crate) mod heartbeat;
pub(crate) mod inbound;
pub(crate) mod session;
pub(crate) mod socket;
pub(crate) mod upgrade;
