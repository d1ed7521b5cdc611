//! Unit tests of the in-memory backplane's bounds: one copy of a message
//! for the history, the log and the entries handed out; the byte bound on
//! each room's history and log tail; and the bound across rooms, which
//! takes the least recently active room's oldest messages first.

use std::sync::Arc;

use super::*;
use crate::core::backplane::Origin;

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn token(who: &str) -> ResumeToken {
    Arc::from(who)
}

fn join(bp: &mut MemoryBackplane, who: &str, name: &str) {
    bp.join(JoinRequest {
        room: room(name),
        nick: Nickname::parse(who, 24).unwrap(),
        token: token(who),
        origin: Origin {
            node: Arc::from("n"),
            member: 1,
        },
        since: None,
        max_members: 10,
        lease_ms: 60_000,
    })
    .unwrap();
}

fn say(bp: &mut MemoryBackplane, who: &str, name: &str, text: &str) -> Said {
    bp.say(&room(name), &token(who), text.into(), None, 0)
        .unwrap()
}

fn kept_ids(bp: &mut MemoryBackplane, name: &str) -> Vec<u64> {
    bp.snapshot(&room(name))
        .unwrap()
        .history
        .iter()
        .map(|m| m.id)
        .collect()
}

/// What one message of `text` from a four-letter nickname costs.
fn cost_of(text: &str) -> usize {
    history::cost(&ChatMessage {
        id: 0,
        ts: 0,
        nick: "anne".into(),
        text: text.into(),
    })
}

#[test]
fn a_message_is_one_allocation_for_the_history_the_log_and_the_entry() {
    let mut bp = MemoryBackplane::new(&Limits::default());
    join(&mut bp, "anne", "lobby");
    let said = say(&mut bp, "anne", "lobby", "hello");
    let Event::Message { message, .. } = &said.entries[0].event else {
        panic!("a message entry");
    };
    let kept = bp.snapshot(&room("lobby")).unwrap().history;
    assert!(Arc::ptr_eq(message, &kept[0]), "history and entry share it");
    let logged = bp.read(&room("lobby"), 0).unwrap().unwrap();
    let Some(Event::Message {
        message: in_log, ..
    }) = logged.last().map(|e| &e.event)
    else {
        panic!("the log ends with the message");
    };
    assert!(Arc::ptr_eq(message, in_log), "the log shares it too");
    assert_eq!(bp.history_bytes(), cost_of("hello"));
}

#[test]
fn a_rooms_history_and_log_are_bounded_in_bytes() {
    let text = "x".repeat(1000);
    let mut bp = MemoryBackplane::new(&Limits {
        max_room_history_bytes: 3 * cost_of(&text),
        ..Limits::default()
    });
    join(&mut bp, "anne", "lobby");
    for _ in 0..10 {
        say(&mut bp, "anne", "lobby", &text);
    }
    assert_eq!(kept_ids(&mut bp, "lobby"), vec![8, 9, 10]);
    assert_eq!(bp.history_bytes(), 3 * cost_of(&text));
    // The log kept fewer entries than were written: a reader from the
    // start is told it missed some (None), a recent one is served.
    assert_eq!(bp.read(&room("lobby"), 0).unwrap(), None);
    let last = bp.rooms[&room("lobby")].last_seq;
    assert_eq!(bp.read(&room("lobby"), last - 1).unwrap().unwrap().len(), 1);
    assert!(bp.rooms[&room("lobby")].log_bytes <= 3 * cost_of(&text));
}

#[test]
fn the_global_bound_takes_the_least_recently_active_rooms_oldest_first() {
    let text = "y".repeat(500);
    let one = cost_of(&text);
    let mut bp = MemoryBackplane::new(&Limits {
        max_history_bytes: 6 * one,
        ..Limits::default()
    });
    let who = [("anne", "old"), ("bess", "mid"), ("cleo", "new")];
    for (nick, name) in who {
        join(&mut bp, nick, name);
    }
    for (nick, name) in &who[..2] {
        for _ in 0..3 {
            say(&mut bp, nick, name, &text);
        }
    }
    assert_eq!(bp.history_bytes(), 6 * one, "at the bound, nothing lost");
    for _ in 0..4 {
        say(&mut bp, "cleo", "new", &text);
    }
    assert_eq!(bp.history_bytes(), 6 * one);
    assert_eq!(kept_ids(&mut bp, "old"), Vec::<u64>::new(), "least recent");
    assert_eq!(
        kept_ids(&mut bp, "mid"),
        vec![2, 3],
        "then the next one's oldest"
    );
    assert_eq!(kept_ids(&mut bp, "new"), vec![1, 2, 3, 4]);
    // Ids go on where they were.
    assert_eq!(say(&mut bp, "anne", "old", &text).id, 4);
}

#[test]
fn messages_past_the_age_limit_leave_every_rooms_history() {
    let limits = Limits {
        history_max_age_ms: Some(60_000),
        ..Limits::default()
    };
    let mut bp = MemoryBackplane::new(&limits);
    for (who, name) in [("ann", "a"), ("bob", "b")] {
        join(&mut bp, who, name);
        say(&mut bp, who, name, "hello");
    }
    let held = bp.history_bytes();
    assert!(held > 0);
    // A minute and a second later, both messages are past the limit.
    bp.drop_aged(now_ms() + 61_000);
    assert!(kept_ids(&mut bp, "a").is_empty());
    assert!(kept_ids(&mut bp, "b").is_empty());
    assert_eq!(bp.history_bytes(), 0);
    // Without a limit nothing goes.
    let mut keeps = MemoryBackplane::new(&Limits::default());
    join(&mut keeps, "ann", "a");
    say(&mut keeps, "ann", "a", "hello");
    keeps.drop_aged(now_ms() + 10 * 365 * 86_400_000);
    assert_eq!(kept_ids(&mut keeps, "a"), [1]);
}
