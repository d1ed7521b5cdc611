//! The Redis backplane against the in-memory one: the contract's script
//! (`backplane/contract.rs`) driven through both must give the same
//! outcomes, events, snapshots and logs, with seqs that chain. Cases about
//! Redis alone belong in the other test files.

use super::cluster::{cluster_backplane, TestCluster};
use super::*;
use crate::backplane::contract::{check_chains, comparable, drive, script, Outcome, Step};
use crate::core::backplane::memory::MemoryBackplane;
use crate::core::limits::Limits;

#[test]
fn logs_the_same_events_as_the_memory_backplane() {
    let redis = TestRedis::start();
    logs_the_same_events(backplane(&redis, "parley:", 3));
}

#[test]
fn on_a_cluster_logs_the_same_events_as_the_memory_backplane() {
    let cluster = TestCluster::start();
    logs_the_same_events(cluster_backplane(&cluster, "parley:", 3));
}

#[test]
fn on_a_cluster_refuses_rooms_past_max_rooms_like_the_memory_backplane() {
    let cluster = TestCluster::start();
    let on_redis = cluster_backplane(&cluster, "parley:", 3).with_max_rooms(2);
    refuses_rooms_past_max_rooms(on_redis, &mut cluster.conn());
}

#[test]
fn on_a_cluster_pages_back_through_history_like_the_memory_backplane() {
    let cluster = TestCluster::start();
    pages_back_through_history(cluster_backplane(&cluster, "parley:", 5));
}

/// The contract's script through `on_redis` (history 3) and memory.
fn logs_the_same_events(mut on_redis: RedisBackplane) {
    let steps = script();
    let mut in_memory = MemoryBackplane::new(&Limits {
        history_size: 3,
        max_rooms: 100,
        ..Limits::default()
    });
    let (want, memory_entries) = drive(&mut in_memory, &steps);
    let (got, redis_entries) = drive(&mut on_redis, &steps);
    for (i, (want, got)) in want.iter().zip(&got).enumerate() {
        assert_eq!(got, want, "outcome {i} differs");
    }
    assert_eq!(got.len(), want.len());
    check_chains(&memory_entries);
    check_chains(&redis_entries);
    for name in ["lobby", "side", "nowhere"] {
        let want = comparable(in_memory.snapshot(&room(name)).unwrap());
        let got = comparable(on_redis.snapshot(&room(name)).unwrap());
        assert_eq!(got, want, "snapshot of {name}");
        let events =
            |read: Vec<Entry>| -> Vec<Event> { read.into_iter().map(|e| e.event).collect() };
        let full = on_redis
            .read(&room(name), 0)
            .unwrap()
            .expect("nothing trimmed");
        check_chains(&full);
        let on_redis = events(full);
        // The memory backplane drops the log of a room that empties (a
        // read from before that is a gap): what it kept must be a chain,
        // the same as the end of Redis's log.
        let kept = (0..)
            .find_map(|after| in_memory.read(&room(name), after).unwrap())
            .unwrap();
        for pair in kept.windows(2) {
            assert_eq!(pair[1].prev, pair[0].seq, "broken chain in {name}");
        }
        let in_memory = events(kept);
        assert!(in_memory.len() <= on_redis.len(), "log of {name}");
        assert_eq!(
            on_redis[on_redis.len() - in_memory.len()..],
            in_memory[..],
            "log of {name}"
        );
    }
    let last = redis_entries.last().unwrap();
    let after = on_redis.read(&last.room, last.prev).unwrap().unwrap();
    assert_eq!(
        after,
        vec![last.clone()],
        "read after a seq returns what followed"
    );
}

/// `--max-rooms` holds on Redis as in memory: at the bound a new room
/// takes the place of the empty room idle longest (forgotten, keys and
/// all), and when every room has members it is refused with
/// `too_many_rooms`, by `join` and by `snapshot`; joining a room that has
/// members is never refused for it.
#[test]
fn refuses_rooms_past_max_rooms_like_the_memory_backplane() {
    let redis = TestRedis::start();
    let on_redis = backplane(&redis, "parley:", 3).with_max_rooms(2);
    refuses_rooms_past_max_rooms(on_redis, &mut redis.conn());
}

/// `on_redis` holds at most 2 rooms; `raw` looks at its keys.
fn refuses_rooms_past_max_rooms(mut on_redis: RedisBackplane, raw: &mut dyn redis::ConnectionLike) {
    use Step::*;
    let steps = [
        Join("a", "Ann", "one", 10),
        Join("b", "Bob", "two", 10),
        Join("c", "Cee", "three", 10),
        Join("c", "Cee", "one", 10),
        Leave("b", "two", LeftWhy::Left),
        Join("c", "Cee", "three", 10),
        Join("d", "Dee", "two", 10),
        Leave("a", "one", LeftWhy::Left),
        Join("d", "Dee", "two", 10),
        Join("e", "Eve", "four", 10),
        Say("d", "two", "bye", None),
        Leave("d", "two", LeftWhy::Left),
        Join("e", "Eve", "four", 10),
    ];
    let mut in_memory = MemoryBackplane::new(&Limits {
        history_size: 3,
        max_rooms: 2,
        ..Limits::default()
    });
    let (want, _) = drive(&mut in_memory, &steps);
    let (got, _) = drive(&mut on_redis, &steps);
    assert_eq!(got, want);
    let refused: Vec<usize> = want
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == Outcome::Refused(ErrorCode::TooManyRooms))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(refused, vec![2, 6, 9], "the steps past the bound");
    for bp in [&mut in_memory as &mut dyn Backplane, &mut on_redis] {
        let refusal = bp.snapshot(&room("five")).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::TooManyRooms);
    }
    let count = |raw: &mut dyn redis::ConnectionLike, cmd: &str, key: &str| -> usize {
        redis::cmd(cmd).arg(key).query(raw).unwrap()
    };
    let with_members = count(raw, "SCARD", "parley:{rooms}:held");
    let idle = count(raw, "ZCARD", "parley:{rooms}:idle");
    let two_kept = ["meta", "msgs", "log"]
        .iter()
        .map(|part| count(raw, "EXISTS", &format!("parley:{{two}}:{part}")))
        .sum::<usize>();
    assert_eq!(
        (with_members, idle),
        (2, 0),
        "three and four, nothing empty"
    );
    assert_eq!(two_kept, 0, "the room made way for four is forgotten");
}

/// `before` pages back through what the room keeps the same way on both:
/// the same messages for every `before` and `limit` (trimmed history,
/// limits of 0 and past everything, a `before` past the newest id), `more`
/// false exactly at the oldest kept message, and an empty page with
/// `more: false` for a room without messages or unknown.
#[test]
fn pages_back_through_history_like_the_memory_backplane() {
    let redis = TestRedis::start();
    pages_back_through_history(backplane(&redis, "parley:", 5));
}

/// `on_redis` keeps a history of 5.
fn pages_back_through_history(mut on_redis: RedisBackplane) {
    use Step::*;
    let steps = [
        Join("a", "Ann", "lobby", 10),
        Join("b", "Bob", "quiet", 10),
        Say("a", "lobby", "one", Some("r1")),
        Say("a", "lobby", "two \"quoted\" ✓", None),
        Say("a", "lobby", "three", None),
        Say("a", "lobby", "four", None),
        Say("a", "lobby", "five", None),
        Say("a", "lobby", "six", None),
        Say("a", "lobby", "seven", None),
    ];
    let mut in_memory = MemoryBackplane::new(&Limits {
        history_size: 5,
        ..Limits::default()
    });
    let (want, _) = drive(&mut in_memory, &steps);
    let (got, _) = drive(&mut on_redis, &steps);
    assert_eq!(got, want);
    let mut pages = 0;
    for name in ["lobby", "quiet", "nowhere"] {
        for before in [0, 1, 2, 3, 4, 5, 7, 8, 9, u64::MAX] {
            for limit in [0, 1, 2, 5, 100, usize::MAX] {
                let want = in_memory.before(&room(name), before, limit).unwrap();
                let got = on_redis.before(&room(name), before, limit).unwrap();
                assert_eq!(got, want, "{name} before {before} limit {limit}");
                pages += usize::from(!want.messages.is_empty());
            }
        }
    }
    assert!(pages > 0, "some pages held messages");
    // Paging back from the newest reaches the oldest kept (3, as 1 and 2
    // left the history of 5) and then says there is no more.
    for bp in [&mut in_memory as &mut dyn Backplane, &mut on_redis] {
        let mut before = u64::MAX;
        let mut seen = Vec::new();
        loop {
            let page = bp.before(&room("lobby"), before, 2).unwrap();
            let ids: Vec<u64> = page.messages.iter().map(|m| m.id).collect();
            seen.splice(0..0, ids.iter().copied());
            if !page.more {
                break;
            }
            before = ids[0];
        }
        assert_eq!(seen, vec![3, 4, 5, 6, 7]);
        let four = bp.before(&room("lobby"), 5, 1).unwrap();
        assert_eq!(four.messages[0].text, "four");
    }
}
