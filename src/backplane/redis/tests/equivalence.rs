//! The Redis backplane against the in-memory one: one scripted sequence of
//! calls driven through both must give the same outcomes, events,
//! snapshots and logs, with seqs that chain. Its harness (`Step`,
//! `Outcome`, `drive`) serves this comparison only; cases about Redis
//! alone belong in the other test files.

use super::*;
use crate::core::backplane::memory::MemoryBackplane;
use crate::core::limits::Limits;

#[derive(Debug, Clone)]
enum Step {
    Join(&'static str, &'static str, &'static str, usize),
    Leave(&'static str, &'static str, LeftWhy),
    Rename(&'static str, &'static str, &'static str),
    Typing(&'static str, &'static str, bool),
    Say(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    ),
    Renew(&'static [&'static str], u64),
    Sleep(u64),
    Reap,
    SavePoll(&'static str, &'static str),
    FindPoll(&'static str),
}

/// What a step did, without seqs (they differ between backplanes).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Logged(Vec<(RoomName, Event)>),
    Said(u64, Vec<(RoomName, Event)>),
    Refused(ErrorCode),
    Found(Option<PollRecord>),
    Done,
}

fn drive(bp: &mut dyn Backplane, steps: &[Step]) -> (Vec<Outcome>, Vec<Entry>) {
    let mut all = Vec::new();
    let mut logged = |entries: Vec<Entry>| {
        let events = entries
            .iter()
            .map(|e| (e.room.clone(), e.event.clone()))
            .collect();
        all.extend(entries);
        events
    };
    let mut outcomes = Vec::new();
    for step in steps {
        let result = match step.clone() {
            Step::Join(who, name, r, max) => bp.join(join(who, name, r, max)).map(&mut logged),
            Step::Leave(who, r, why) => bp.leave(&room(r), &tok(who), why).map(&mut logged),
            Step::Rename(who, r, name) => {
                bp.rename(&room(r), &tok(who), &nick(name)).map(&mut logged)
            }
            Step::Typing(who, r, on) => bp.typing(&room(r), &tok(who), on).map(&mut logged),
            Step::Say(who, r, text, reference) => {
                let said = bp.say(
                    &room(r),
                    &tok(who),
                    text.into(),
                    reference.map(Into::into),
                    NOW,
                );
                outcomes.push(match said {
                    Ok(said) => Outcome::Said(said.id, logged(said.entries)),
                    Err(refusal) => Outcome::Refused(refusal.code),
                });
                continue;
            }
            Step::Renew(who, ttl) => {
                let tokens: Vec<ResumeToken> = who.iter().map(|w| tok(w)).collect();
                bp.renew(&tokens, ttl).unwrap();
                outcomes.push(Outcome::Done);
                continue;
            }
            Step::Sleep(ms) => {
                thread::sleep(Duration::from_millis(ms));
                continue;
            }
            Step::Reap => bp.reap().map(&mut logged),
            Step::SavePoll(poll, who) => {
                let record = PollRecord {
                    token: tok(who),
                    room: None,
                };
                bp.save_poll(poll, &record, 60_000).unwrap();
                continue;
            }
            Step::FindPoll(poll) => {
                outcomes.push(Outcome::Found(bp.find_poll(poll).unwrap()));
                continue;
            }
        };
        outcomes.push(match result {
            Ok(events) => Outcome::Logged(events),
            Err(refusal) => Outcome::Refused(refusal.code),
        });
    }
    (outcomes, all)
}

/// Seqs increase across rooms and each entry names its room's previous.
fn check_chains(entries: &[Entry]) {
    let mut last_seq = 0;
    let mut last_in_room = std::collections::HashMap::new();
    for entry in entries {
        assert!(entry.seq > last_seq, "seq went back at {entry:?}");
        last_seq = entry.seq;
        let prev = last_in_room
            .insert(entry.room.clone(), entry.seq)
            .unwrap_or(0);
        assert_eq!(entry.prev, prev, "broken chain at {entry:?}");
    }
}

fn comparable(mut snapshot: Snapshot) -> Snapshot {
    snapshot.epoch.clear();
    snapshot.seq = 0;
    snapshot.members.sort_by_key(|m| m.order);
    snapshot
}

#[test]
fn logs_the_same_events_as_the_memory_backplane() {
    use Step::*;
    let steps = [
        Join("a", "Ann", "lobby", 10),
        Join("b", "Bob", "lobby", 10),
        Join("c", "ann", "lobby", 10),
        Join("a", "Ann", "lobby", 10),
        Join("a", "ANN", "lobby", 10),
        Join("a", "Annie", "lobby", 10),
        Rename("b", "lobby", "annie"),
        Rename("b", "lobby", "Bob"),
        Rename("b", "lobby", "BOB"),
        Rename("c", "lobby", "Cee"),
        Rename("c", "nowhere", "Cee"),
        Typing("a", "lobby", true),
        Typing("c", "lobby", true),
        Say("a", "lobby", "hi \"you\" / \\ \u{1f} ✓ 😀 </b>", Some("r1")),
        Say("a", "lobby", "again", Some("r1")),
        Say("b", "lobby", "no ref", None),
        Say("b", "lobby", "empty ref", Some("")),
        Say("b", "lobby", "empty ref again", Some("")),
        Say("c", "lobby", "not here", None),
        Say("a", "lobby", "m4", Some("r4")),
        Say("a", "lobby", "r1 left the history", Some("r1")),
        Join("a", "Ann", "side", 10),
        Join("d", "Dee", "side", 1),
        Join("b", "Bee", "side", 10),
        Leave("b", "side", LeftWhy::Left),
        Leave("b", "side", LeftWhy::Left),
        Leave("b", "nowhere", LeftWhy::Gone),
        SavePoll("poll-1", "a"),
        FindPoll("poll-1"),
        FindPoll("poll-2"),
        Renew(&["a", "c"], 40),
        Join("c", "Cee", "lobby", 10),
        Sleep(150),
        Reap,
        Reap,
        FindPoll("poll-1"),
        Join("e", "Eve", "lobby", 10),
        Renew(&["e"], 40),
        Leave("e", "lobby", LeftWhy::Gone),
        Join("e", "Eve", "lobby", 10),
        Join("f", "Fay", "lobby", 10),
        Renew(&["f"], 40),
        Join("f", "Fay", "side", 10),
        Sleep(150),
        Reap,
    ];
    let redis = TestRedis::start();
    let mut on_redis = backplane(&redis, "parley:", 3);
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
    let redis = TestRedis::start();
    let mut on_redis = backplane(&redis, "parley:", 3).with_max_rooms(2);
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
    let mut raw = redis.conn();
    let (with_members, idle, two_kept): (usize, usize, usize) = redis::pipe()
        .cmd("SCARD")
        .arg("parley:rooms")
        .cmd("ZCARD")
        .arg("parley:idle")
        .cmd("EXISTS")
        .arg("parley:room:two:meta")
        .arg("parley:room:two:msgs")
        .arg("parley:room:two:log")
        .query(&mut raw)
        .unwrap();
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
    let redis = TestRedis::start();
    let mut on_redis = backplane(&redis, "parley:", 5);
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
