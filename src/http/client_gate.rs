//! The per-client limits checked before a connection exists: connection
//! attempts per second (WebSocket upgrades and `/poll/open`, one token
//! bucket per client) and WebSockets open at once, both keyed by the
//! client's subnet ([`ClientKey`], from the real client address after
//! trusted proxies). Shared by every HTTP worker; both maps are bounded
//! (the attempts by [`MAX_BUCKETS`], the open counts by the connections
//! themselves). A refusal is HTTP 429 `too_many_connections`. The
//! WebSockets of all clients together are capped too (`--max-websockets`),
//! answered 503 `server_full`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::core::bucket_map::BucketMap;
use crate::core::chat_core::MAX_BUCKETS;
use crate::core::client_key::{ClientKey, SubnetBits};
use crate::core::limits::Limits;
use crate::http::client_addr::client_key;
use crate::http::error::HttpError;

/// How soon a client at its WebSocket cap is told to retry: a connection
/// of its own has to end first, which takes a while.
const FULL_RETRY_MS: u64 = 10_000;

/// The per-client admission checks.
pub(crate) struct ClientGate {
    bits: SubnetBits,
    max_websockets: usize,
    max_websockets_in_all: usize,
    /// The buckets' clock starts here.
    epoch: Instant,
    attempts: Mutex<BucketMap<ClientKey>>,
    websockets: Mutex<Open>,
}

/// The WebSockets open, per client and in all.
#[derive(Default)]
struct Open {
    per_client: HashMap<ClientKey, usize>,
    total: usize,
}

/// One open WebSocket counted against its client; dropping it (when the
/// session stops) gives the place back.
pub(crate) struct WebSocketSlot {
    gate: Arc<ClientGate>,
    key: ClientKey,
}

/// A poisoned lock is usable: every update is one insert or remove.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientGate {
    /// A gate enforcing `limits`.
    pub(crate) fn new(limits: &Limits) -> Self {
        ClientGate {
            bits: limits.subnet_bits(),
            max_websockets: limits.max_websockets_per_ip,
            max_websockets_in_all: limits.max_websockets,
            epoch: Instant::now(),
            attempts: Mutex::new(BucketMap::new(limits.connect_allowance(), MAX_BUCKETS)),
            websockets: Mutex::new(Open::default()),
        }
    }

    /// The client an address belongs to.
    pub(crate) fn key(&self, ip: IpAddr) -> ClientKey {
        client_key(ip, self.bits)
    }

    /// Counts one connection attempt of `key`; refused past its allowance.
    pub(crate) fn attempt(&self, key: ClientKey) -> Result<(), HttpError> {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let mut attempts = lock(&self.attempts);
        attempts.sweep(now_ms);
        attempts.take(&key, now_ms).map_err(|retry_ms| {
            // Debug, not info: under a flood, a line per refusal would be the flood.
            log::debug!("refused a connection attempt from {key}: too many per second");
            HttpError::TooManyConnections(retry_ms)
        })
    }

    /// A place for one more WebSocket of `key`, if it holds fewer than the
    /// cap.
    pub(crate) fn open_websocket(
        self: &Arc<Self>,
        key: ClientKey,
    ) -> Result<WebSocketSlot, HttpError> {
        let mut open = lock(&self.websockets);
        if open.total >= self.max_websockets_in_all {
            log::warn!(
                "refused a WebSocket from {key}: the server holds {} (--max-websockets)",
                open.total
            );
            return Err(HttpError::ServerFull(FULL_RETRY_MS));
        }
        let count = open.per_client.entry(key).or_default();
        if *count >= self.max_websockets {
            if *count == 0 {
                open.per_client.remove(&key);
            }
            log::debug!(
                "refused a WebSocket from {key}: {} open",
                self.max_websockets
            );
            return Err(HttpError::TooManyConnections(FULL_RETRY_MS));
        }
        *count += 1;
        open.total += 1;
        Ok(WebSocketSlot {
            gate: self.clone(),
            key,
        })
    }
}

impl WebSocketSlot {
    /// The client it counts against.
    pub(crate) fn key(&self) -> ClientKey {
        self.key
    }
}

impl Drop for WebSocketSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.gate.websockets);
        open.total -= 1;
        if let Some(count) = open.per_client.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.per_client.remove(&self.key);
                crate::core::shrink::when_sparse(&mut open.per_client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websockets_are_counted_per_subnet_until_their_slots_drop() {
        let limits = Limits {
            max_websockets_per_ip: 2,
            ..Limits::default()
        };
        let gate = Arc::new(ClientGate::new(&limits));
        let a = gate.key("2001:db8::1".parse().unwrap());
        let same = gate.key("2001:db8::2".parse().unwrap());
        let other = gate.key("2001:db8:0:1::1".parse().unwrap());
        let first = gate.open_websocket(a).unwrap();
        let _second = gate.open_websocket(same).unwrap();
        assert_eq!(
            gate.open_websocket(a).err(),
            Some(HttpError::TooManyConnections(FULL_RETRY_MS))
        );
        assert!(gate.open_websocket(other).is_ok());
        drop(first);
        assert!(gate.open_websocket(a).is_ok());
    }

    #[test]
    fn websockets_of_all_clients_are_capped_together() {
        let limits = Limits {
            max_websockets: 2,
            ..Limits::default()
        };
        let gate = Arc::new(ClientGate::new(&limits));
        let a = gate.key("192.0.2.1".parse().unwrap());
        let b = gate.key("192.0.2.2".parse().unwrap());
        let c = gate.key("192.0.2.3".parse().unwrap());
        let first = gate.open_websocket(a).unwrap();
        let _second = gate.open_websocket(b).unwrap();
        assert_eq!(
            gate.open_websocket(c).err(),
            Some(HttpError::ServerFull(FULL_RETRY_MS))
        );
        drop(first);
        assert!(gate.open_websocket(c).is_ok());
    }
}
