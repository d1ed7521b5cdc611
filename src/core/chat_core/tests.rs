//! Unit tests of the core over the in-memory backplane: the rules a client
//! sees, and two cores sharing one log as two instances would.

use std::sync::Arc;

use super::*;
use crate::core::backplane::memory::MemoryBackplane;

fn core() -> ChatCore {
    core_with(Limits {
        history_on_join: 2,
        max_rooms: 2,
        max_room_members: 3,
        ..Limits::default()
    })
}

/// A core over a fresh in-memory backplane, both with `limits` (the
/// paging tests use it too).
pub(super) fn core_with(limits: Limits) -> ChatCore {
    ChatCore::new(
        limits,
        Arc::from("node"),
        15_000,
        Box::new(MemoryBackplane::new(&limits)),
    )
}

fn join_frame(nick: &str, room: &str) -> ClientFrame {
    ClientFrame::Join {
        v: None,
        nick: nick.into(),
        room: Some(room.into()),
        since: None,
        resume: None,
        epoch: None,
        minor: None,
    }
}

fn resume_frame(nick: &str, room: &str, session: &str) -> ClientFrame {
    ClientFrame::Join {
        v: None,
        nick: nick.into(),
        room: Some(room.into()),
        since: None,
        resume: Some(session.into()),
        epoch: None,
        minor: None,
    }
}

fn say(text: &str, reference: &str) -> ClientFrame {
    ClientFrame::Say {
        text: text.into(),
        reference: Some(reference.into()),
    }
}

/// A client address of its own per connection id, unless a test shares one.
fn key(id: MemberId) -> ClientKey {
    ClientKey::v4(id as u32, 32)
}

fn connect_and_join(core: &mut ChatCore, id: MemberId, nick: &str, room: &str) -> Vec<Effect> {
    core.connect(id, key(id), None);
    core.handle(id, join_frame(nick, room), 0)
}

fn error_code(effects: &[Effect]) -> Option<ErrorCode> {
    effects.iter().find_map(|e| match e {
        Effect::Send {
            frame: ServerFrame::Error { code, .. },
            ..
        } => Some(*code),
        _ => None,
    })
}

fn session_of(effects: &[Effect]) -> String {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Send {
                frame: ServerFrame::Welcome { session, .. },
                ..
            } => Some(session.clone()),
            _ => None,
        })
        .expect("a welcome")
}

fn frames(effects: &[Effect]) -> Vec<(Audience, ServerFrame)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, frame, .. } => Some((to.clone(), frame.clone())),
            Effect::Close { .. } => None,
        })
        .collect()
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

#[test]
fn join_welcomes_the_joiner_and_tells_the_others() {
    let mut core = core();
    connect_and_join(&mut core, 1, "ann", "lobby");
    let effects = frames(&connect_and_join(&mut core, 2, "bob", "lobby"));
    assert!(
        matches!(&effects[0], (Audience::Member(2), ServerFrame::Welcome { count: 2, roster, .. }) if roster.len() == 2)
    );
    assert_eq!(
        effects[1],
        (
            Audience::RoomExcept(room("lobby"), 2),
            ServerFrame::Joined {
                nick: "bob".into(),
                count: 2
            }
        )
    );
    assert_eq!(core.stats(), (1, 2));
}

#[test]
fn nicknames_are_unique_per_room_only() {
    let mut core = core();
    connect_and_join(&mut core, 1, "Ann", "lobby");
    assert_eq!(
        error_code(&connect_and_join(&mut core, 2, "ann", "lobby")),
        Some(ErrorCode::NickTaken)
    );
    assert_eq!(
        error_code(&connect_and_join(&mut core, 3, "ann", "other")),
        None
    );
}

#[test]
fn moving_rooms_leaves_the_old_one_and_keeps_the_token() {
    let mut core = core();
    connect_and_join(&mut core, 9, "bob", "a");
    let session = session_of(&connect_and_join(&mut core, 1, "ann", "a"));
    let effects = core.handle(1, join_frame("ann", "b"), 0);
    assert!(frames(&effects).contains(&(
        Audience::Room(room("a")),
        ServerFrame::Left {
            nick: "ann".into(),
            count: 1
        }
    )));
    assert_eq!(session_of(&effects), session);
    assert_eq!(core.members_of(&room("a")).collect::<Vec<_>>(), vec![9]);
    assert_eq!(core.stats(), (2, 2), "a move counts the member once");
    assert_eq!(core.members_of(&room("b")).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn a_resume_token_takes_over_a_ghost_without_notices() {
    let mut core = core();
    connect_and_join(&mut core, 1, "bob", "lobby");
    let session = session_of(&connect_and_join(&mut core, 2, "ann", "lobby"));
    core.connect(3, key(3), None);
    let effects = core.handle(3, resume_frame("ann", "lobby", &session), 0);
    assert!(effects.contains(&Effect::Close {
        member: 2,
        reason: CloseReason::Replaced
    }));
    let sent = frames(&effects);
    assert!(matches!(
        &sent[0],
        (Audience::Member(3), ServerFrame::Welcome { count: 2, .. })
    ));
    assert_eq!(sent.len(), 1, "nobody else hears of it: {sent:?}");
    let mut members: Vec<_> = core.members_of(&room("lobby")).collect();
    members.sort();
    assert_eq!(members, vec![1, 3]);
}

#[test]
fn a_refused_resume_leaves_the_old_connection_alone() {
    let mut core = core();
    connect_and_join(&mut core, 1, "bob", "lobby");
    let session = session_of(&connect_and_join(&mut core, 2, "ann", "lobby"));
    core.connect(3, key(3), None);
    let effects = core.handle(3, resume_frame("bob", "lobby", &session), 0);
    assert_eq!(error_code(&effects), Some(ErrorCode::NickTaken));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Close { .. })));
    assert_eq!(core.count(&room("lobby")), 2);
}

#[test]
fn say_needs_a_room_and_is_acked_and_deduplicated() {
    let mut core = core();
    core.connect(1, key(1), None);
    assert_eq!(
        error_code(&core.handle(1, say("hi", "r1"), 0)),
        Some(ErrorCode::NotJoined)
    );
    core.handle(1, join_frame("ann", "lobby"), 0);
    let sent = frames(&core.handle(1, say("hi", "r1"), 0));
    assert!(matches!(&sent[0], (Audience::Room(_), ServerFrame::Message(m)) if m.id == 1));
    assert_eq!(
        sent[1],
        (
            Audience::Member(1),
            ServerFrame::Ack {
                reference: "r1".into(),
                id: 1
            }
        )
    );
    let again = frames(&core.handle(1, say("hi", "r1"), 0));
    assert_eq!(
        again,
        vec![(
            Audience::Member(1),
            ServerFrame::Ack {
                reference: "r1".into(),
                id: 1
            }
        )],
        "a resend is acknowledged with the first id and not broadcast"
    );
}

#[test]
fn floods_are_refused_with_a_retry_hint() {
    let mut core = core();
    connect_and_join(&mut core, 1, "ann", "lobby");
    let refused = (0..100)
        .map(|i| core.handle(1, say("x", &format!("r{i}")), 0))
        .find(|effects| error_code(effects) == Some(ErrorCode::RateLimited))
        .expect("a flood is limited");
    assert!(matches!(
        &refused[0],
        Effect::Send {
            frame: ServerFrame::Error {
                retry_ms: Some(_),
                reference: Some(_),
                ..
            },
            ..
        }
    ));
}

/// How many of `tries` says from `id` at `now_ms` are accepted; the others
/// must be refused as `rate_limited`.
fn accepted_says(core: &mut ChatCore, id: MemberId, tries: usize, now_ms: u64) -> usize {
    (0..tries)
        .filter(|i| {
            let effects = core.handle(id, say("x", &format!("{id}-{now_ms}-{i}")), now_ms);
            match error_code(&effects) {
                None => true,
                Some(code) => {
                    assert_eq!(code, ErrorCode::RateLimited, "{effects:?}");
                    false
                }
            }
        })
        .count()
}

#[test]
fn the_allowance_follows_the_token_across_a_takeover() {
    let mut core = core();
    let session = session_of(&connect_and_join(&mut core, 1, "ann", "lobby"));
    // The join took one of address 1's 20; the says take the rest.
    assert_eq!(accepted_says(&mut core, 1, 25, 0), 19);
    // Taken over from another address: the token's bucket has one left,
    // not a fresh 20.
    core.connect(2, key(2), None);
    core.handle(2, resume_frame("ann", "lobby", &session), 0);
    assert_eq!(accepted_says(&mut core, 2, 5, 0), 1);
    // It refills at the sustained rate, 10 a second.
    assert_eq!(accepted_says(&mut core, 2, 20, 1_000), 10);
}

#[test]
fn connections_of_one_address_share_its_allowance() {
    let mut core = core();
    let names = ["ann", "bob", "cy"];
    for (i, nick) in names.iter().enumerate() {
        let id = i as MemberId + 1;
        core.connect(id, key(1), None);
        core.handle(id, join_frame(nick, &format!("room{}", i % 2)), 0);
    }
    let accepted: usize = (1..=3).map(|id| accepted_says(&mut core, id, 10, 0)).sum();
    assert_eq!(accepted, 20 - 3, "one bucket of 20, the joins included");
}

#[test]
fn a_busy_room_refuses_past_its_budget_to_the_sender_only() {
    let limits = Limits {
        room_rate_burst: 3,
        room_rate_per_sec: 1,
        ..Limits::default()
    };
    let mut core = core_with(limits);
    connect_and_join(&mut core, 1, "ann", "lobby");
    connect_and_join(&mut core, 2, "bob", "lobby");
    connect_and_join(&mut core, 3, "cy", "elsewhere");
    assert_eq!(accepted_says(&mut core, 1, 2, 0), 2);
    assert_eq!(accepted_says(&mut core, 2, 1, 0), 1);
    let refused = frames(&core.handle(2, say("x", "late"), 0));
    assert!(
        matches!(
            refused.as_slice(),
            [(Audience::Member(2), ServerFrame::Error { code: ErrorCode::RateLimited, retry_ms: Some(1000), reference: Some(r), .. })] if r == "late"
        ),
        "{refused:?}"
    );
    assert_eq!(
        accepted_says(&mut core, 3, 3, 0),
        3,
        "other rooms are apart"
    );
    assert_eq!(accepted_says(&mut core, 1, 2, 1_000), 1);
}

#[test]
fn in_a_big_room_typing_is_not_relayed_but_one_already_typing_may_stop() {
    let mut core = core_with(Limits {
        big_room_members: 3,
        ..Limits::default()
    });
    connect_and_join(&mut core, 1, "ann", "lobby");
    connect_and_join(&mut core, 2, "bob", "lobby");
    // Two members: not big yet, ann's typing goes out.
    assert_eq!(
        frames(&core.handle(1, ClientFrame::Typing { on: true }, 0)).len(),
        1
    );
    connect_and_join(&mut core, 3, "cy", "lobby");
    // Three: big. Bob's typing is accepted and goes nowhere, no error.
    assert!(core
        .handle(2, ClientFrame::Typing { on: true }, 1)
        .is_empty());
    // Ann, typing since before, may still stop, so nobody is left with a
    // stale line.
    let stopped = frames(&core.handle(1, ClientFrame::Typing { on: false }, 2));
    assert!(matches!(
        &stopped[..],
        [(_, ServerFrame::Typing { on: false, .. })]
    ));
}

#[test]
fn typing_is_sent_to_others_on_change_only() {
    let mut core = core();
    connect_and_join(&mut core, 1, "ann", "lobby");
    connect_and_join(&mut core, 2, "bob", "lobby");
    let sent = frames(&core.handle(1, ClientFrame::Typing { on: true }, 0));
    assert_eq!(
        sent,
        vec![(
            Audience::RoomExcept(room("lobby"), 1),
            ServerFrame::Typing {
                nick: "ann".into(),
                on: true
            }
        )]
    );
    assert!(core
        .handle(1, ClientFrame::Typing { on: true }, 5)
        .is_empty());
    assert!(
        core.expire_typing(5 + TYPING_TIMEOUT_MS).is_empty(),
        "renewed at 5"
    );
    let expired = frames(&core.expire_typing(6 + TYPING_TIMEOUT_MS));
    assert!(matches!(
        &expired[0],
        (_, ServerFrame::Typing { on: false, .. })
    ));
}

#[test]
fn rooms_and_members_are_capped() {
    let mut core = core();
    for (id, nick) in [(1, "a"), (2, "b"), (3, "c")] {
        connect_and_join(&mut core, id, nick, "full");
    }
    assert_eq!(
        error_code(&connect_and_join(&mut core, 4, "d", "full")),
        Some(ErrorCode::RoomFull)
    );
    connect_and_join(&mut core, 5, "e", "second");
    assert_eq!(
        error_code(&connect_and_join(&mut core, 6, "f", "third")),
        Some(ErrorCode::TooManyRooms)
    );
}

#[test]
fn disconnect_tells_the_room() {
    let mut core = core();
    connect_and_join(&mut core, 1, "ann", "lobby");
    connect_and_join(&mut core, 2, "bob", "lobby");
    let sent = frames(&core.disconnect(2, LeftWhy::Gone, 0));
    assert_eq!(
        sent,
        vec![(
            Audience::Room(room("lobby")),
            ServerFrame::Left {
                nick: "bob".into(),
                count: 1
            }
        )]
    );
    assert_eq!(core.stats(), (1, 1));
}

#[test]
fn a_lapsed_lease_takes_the_member_out_and_closes_its_connection() {
    let mut core = core();
    connect_and_join(&mut core, 1, "ann", "lobby");
    core.connect(2, key(2), Some(Arc::from("poll")));
    core.handle(2, join_frame("bob", "lobby"), 0);
    // The polling session was touched with the grace period when it
    // joined; expire it at once.
    let token = core_token(&core, 2);
    core.backplane().renew(&[token], 0).unwrap();
    let effects = core.reap(0);
    assert!(effects.contains(&Effect::Close {
        member: 2,
        reason: CloseReason::Expired
    }));
    assert!(frames(&effects).contains(&(
        Audience::Room(room("lobby")),
        ServerFrame::Left {
            nick: "bob".into(),
            count: 1
        }
    )));
}

fn core_token(core: &ChatCore, id: MemberId) -> ResumeToken {
    core.connections[&id].token.clone().unwrap()
}

/// The mirrors are held to `max_history_bytes` in all, as the backplane
/// is: the least recently active room loses its oldest messages first, and
/// a joiner of the active room still gets its recent history.
#[test]
fn mirrors_are_held_to_the_global_history_bound() {
    let one = crate::core::history::cost(&crate::protocol::ChatMessage {
        id: 0,
        ts: 0,
        nick: "ann".into(),
        text: "m0".into(),
    });
    let limits = Limits {
        history_on_join: 10,
        max_history_bytes: 4 * one,
        ..Limits::default()
    };
    let backplane = Box::new(MemoryBackplane::new(&limits));
    let mut core = ChatCore::new(limits, Arc::from("node"), 15_000, backplane);
    connect_and_join(&mut core, 1, "ann", "quiet");
    connect_and_join(&mut core, 2, "bob", "busy");
    for n in 0..3 {
        core.handle(1, say(&format!("m{n}"), &format!("q{n}")), 0);
    }
    for n in 0..3 {
        core.handle(2, say(&format!("m{n}"), &format!("b{n}")), 0);
    }
    assert_eq!(core.history_bytes(), (4 * one, 4 * one));
    let welcome = frames(&connect_and_join(&mut core, 3, "cat", "busy"));
    let (_, ServerFrame::Welcome { history, .. }) = &welcome[0] else {
        panic!("a welcome first");
    };
    let ids: Vec<u64> = history.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![1, 2, 3], "the busy room keeps all it said");
    let welcome = frames(&connect_and_join(&mut core, 4, "dan", "quiet"));
    let (_, ServerFrame::Welcome { history, .. }) = &welcome[0] else {
        panic!("a welcome first");
    };
    let ids: Vec<u64> = history.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![3], "the quiet room lost its oldest two");
}

#[test]
fn messages_past_the_age_limit_are_not_shown_to_joiners() {
    let limits = Limits {
        history_on_join: 10,
        history_max_age_ms: Some(60_000),
        ..Limits::default()
    };
    let mut core = core_with(limits);
    connect_and_join(&mut core, 1, "ann", "lobby");
    core.handle(1, say("old news", "r1"), 0);
    let (_, mirrors) = core.history_bytes();
    assert!(mirrors > 0);
    // The message was accepted now; an hour on, it is past the limit.
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 3_600_000;
    core.reap(later);
    assert_eq!(core.history_bytes().1, 0, "the mirror let it go");
    let welcome = connect_and_join(&mut core, 2, "bob", "lobby");
    let history = welcome.iter().find_map(|e| match e {
        Effect::Send {
            frame: ServerFrame::Welcome { history, .. },
            ..
        } => Some(history.len()),
        _ => None,
    });
    assert_eq!(history, Some(0), "bob is not shown it");
}
