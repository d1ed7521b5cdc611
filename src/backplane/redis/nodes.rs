//! Which node of a Redis Cluster serves a key, as the pipeline groups its
//! calls: a cluster connection sends a pipeline to the node of its first
//! key, so calls grouped by node (rather than by room) go as one pipeline
//! per node, and a batch that touches a hundred rooms costs a round trip
//! per node instead of one per room. The map is read from `CLUSTER SLOTS`
//! and read again when a reply says a slot moved; a call sent to the wrong
//! node is answered MOVED without running, so a stale map costs a resend,
//! never a wrong or repeated decision.
//!
//! It owns only that lookup: what runs in a pipeline is `pipeline.rs`'s.

use redis::{ConnectionLike, RedisResult, Value};

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16_384;

/// The node serving each slot, as the cluster last said.
pub(super) struct NodeMap {
    /// `(first slot, last slot, node)`, the node an index in `nodes`.
    ranges: Vec<(u16, u16, usize)>,
    nodes: Vec<String>,
}

impl NodeMap {
    /// Asks the cluster (any node) which node serves each slot.
    pub(super) fn read(conn: &mut dyn ConnectionLike) -> RedisResult<NodeMap> {
        let entries: Vec<Vec<Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(conn)?;
        let mut map = NodeMap {
            ranges: Vec::with_capacity(entries.len()),
            nodes: Vec::new(),
        };
        for entry in entries {
            let mut parts = entry.into_iter();
            let (Some(first), Some(last), Some(primary)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let first: u16 = redis::from_redis_value(first)?;
            let last: u16 = redis::from_redis_value(last)?;
            let primary: Vec<Value> = redis::from_redis_value(primary)?;
            let mut primary = primary.into_iter();
            let (Some(host), Some(port)) = (primary.next(), primary.next()) else {
                continue;
            };
            let host: String = redis::from_redis_value(host)?;
            let port: u16 = redis::from_redis_value(port)?;
            let node = format!("{host}:{port}");
            let index = match map.nodes.iter().position(|n| *n == node) {
                Some(index) => index,
                None => {
                    map.nodes.push(node);
                    map.nodes.len() - 1
                }
            };
            map.ranges.push((first, last, index));
        }
        Ok(map)
    }

    /// The node serving `key`'s slot, if the map has it.
    pub(super) fn node_of(&self, key: &str) -> Option<usize> {
        let slot = slot_of(key);
        self.ranges
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, node)| *node)
    }
}

/// A key's slot: CRC16 (XMODEM) of its hash tag, the part between the
/// first `{` and the next `}` when that is not empty, else of the whole
/// key, modulo 16,384.
pub(super) fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &bytes[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(bytes)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::slot_of;

    #[test]
    fn slots_follow_redis_hash_tags() {
        // Values from Redis's CLUSTER KEYSLOT.
        assert_eq!(slot_of("foo"), 12_182);
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        assert_eq!(slot_of("parley:{lobby}:meta"), slot_of("lobby"));
        // An empty tag hashes the whole key.
        assert_eq!(slot_of("{}foo"), slot_of("{}foo"));
        assert_ne!(slot_of("{}foo"), slot_of(""));
    }
}
