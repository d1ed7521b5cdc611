//! Giving memory back after a crowd leaves. A `HashMap` keeps the capacity
//! it grew to for as long as it lives, so 19,000 connections arriving and
//! leaving would leave every map that held them at 19,000 slots. Maps of
//! connections and members call [`when_sparse`] as entries leave: once a
//! map is down to a quarter of its capacity it shrinks to fit, which costs
//! one rehash per halving or so, never one per removal.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Maps this small or smaller are left alone.
const KEPT: usize = 64;

/// Shrinks `map` to fit when it holds under a quarter of its capacity.
pub(crate) fn when_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > KEPT && map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_shrinks_once_mostly_empty_and_not_before() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        for i in 0..5_000 {
            map.remove(&i);
            when_sparse(&mut map);
        }
        // (Removals leave tombstones, which count against the capacity.)
        assert!(map.capacity() >= 10_000, "half full is not sparse");
        for i in 5_000..9_990 {
            map.remove(&i);
            when_sparse(&mut map);
        }
        assert!(
            map.capacity() <= KEPT * 4,
            "{} slots for 10 entries",
            map.capacity()
        );
        assert_eq!(map.len(), 10);
    }
}
