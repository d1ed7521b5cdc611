//! Unit tests of paging back over the in-memory backplane: the pages and
//! `more`, each refusal with its code and the request's `ref`, the
//! per-client allowance, the byte bound, and that only the asker hears.

use super::super::tests::core_with;
use super::super::{Audience, ChatCore, Effect, MemberId};
use crate::core::client_key::ClientKey;
use crate::core::limits::Limits;
use crate::protocol::{ClientFrame, ErrorCode, ServerFrame};

fn join(core: &mut ChatCore, id: MemberId, nick: &str) {
    core.connect(id, ClientKey::v4(id as u32, 32), None);
    let join = ClientFrame::Join {
        v: None,
        nick: nick.into(),
        room: Some("lobby".into()),
        since: None,
        resume: None,
        epoch: None,
        minor: None,
    };
    core.handle(id, join, 0);
}

/// A core whose room `lobby` holds messages 1 to `count`, said by member 1.
fn room_of(count: u64, limits: Limits) -> ChatCore {
    let mut core = core_with(Limits {
        rate_burst: 1_000,
        address_rate_burst: 1_000,
        room_rate_burst: 1_000,
        ..limits
    });
    join(&mut core, 1, "ann");
    for n in 1..=count {
        let say = ClientFrame::Say {
            text: format!("m{n}"),
            reference: None,
        };
        core.handle(1, say, 0);
    }
    core
}

fn ask(before: u64, limit: Option<u64>) -> ClientFrame {
    ClientFrame::History {
        before,
        limit,
        reference: Some("h".into()),
    }
}

/// The one frame an effect list sends, and to whom.
fn only(effects: Vec<Effect>) -> (Audience, ServerFrame) {
    let [Effect::Send { to, frame, .. }] = effects.as_slice() else {
        panic!("one frame expected, got {effects:?}");
    };
    (to.clone(), frame.clone())
}

fn page(core: &mut ChatCore, id: MemberId, before: u64, limit: Option<u64>) -> (Vec<u64>, bool) {
    match only(core.handle(id, ask(before, limit), 0)) {
        (
            Audience::Member(to),
            ServerFrame::History {
                reference,
                messages,
                more,
                before: echoed,
            },
        ) if to == id && reference.as_deref() == Some("h") && echoed == before => {
            (messages.iter().map(|m| m.id).collect(), more)
        }
        other => panic!("not a history answer to {id}: {other:?}"),
    }
}

fn refusal(core: &mut ChatCore, id: MemberId, frame: ClientFrame) -> (ErrorCode, Option<u64>) {
    match only(core.handle(id, frame, 0)) {
        (
            Audience::Member(to),
            ServerFrame::Error {
                code,
                reference,
                retry_ms,
                ..
            },
        ) if to == id && reference.as_deref() == Some("h") => (code, retry_ms),
        other => panic!("not an error with the ref: {other:?}"),
    }
}

#[test]
fn pages_back_to_the_start_of_the_room() {
    let mut core = room_of(7, Limits::default());
    join(&mut core, 2, "bob");
    assert_eq!(page(&mut core, 2, 8, Some(3)), (vec![5, 6, 7], true));
    assert_eq!(page(&mut core, 2, 5, Some(3)), (vec![2, 3, 4], true));
    assert_eq!(page(&mut core, 2, 2, Some(3)), (vec![1], false));
    assert_eq!(page(&mut core, 2, 1, Some(3)), (vec![], false));
    assert_eq!(
        page(&mut core, 2, 4, None),
        (vec![1, 2, 3], false),
        "the default limit takes all three"
    );
}

#[test]
fn stops_at_the_oldest_message_kept() {
    let mut core = room_of(
        9,
        Limits {
            history_size: 4,
            ..Limits::default()
        },
    );
    assert_eq!(page(&mut core, 1, 10, Some(3)), (vec![7, 8, 9], true));
    assert_eq!(page(&mut core, 1, 7, Some(3)), (vec![6], false));
}

#[test]
fn refuses_what_makes_no_sense_with_a_code_and_the_ref() {
    let mut core = room_of(3, Limits::default());
    core.connect(9, ClientKey::v4(9, 32), None);
    assert_eq!(refusal(&mut core, 9, ask(2, None)).0, ErrorCode::NotJoined);
    for limit in [0, 101, u64::MAX] {
        assert_eq!(
            refusal(&mut core, 1, ask(2, Some(limit))).0,
            ErrorCode::InvalidLimit,
            "limit {limit}"
        );
    }
    assert_eq!(
        page(&mut core, 1, 2, Some(100)).0,
        vec![1],
        "100 is allowed"
    );
    for before in [0, 5, u64::MAX] {
        assert_eq!(
            refusal(&mut core, 1, ask(before, None)).0,
            ErrorCode::InvalidBefore,
            "before {before}"
        );
    }
    assert_eq!(page(&mut core, 1, 4, None).0, vec![1, 2, 3], "newest + 1");
    let long_ref = ClientFrame::History {
        before: 2,
        limit: None,
        reference: Some("r".repeat(65)),
    };
    assert!(matches!(
        only(core.handle(1, long_ref, 0)).1,
        ServerFrame::Error {
            code: ErrorCode::BadFrame,
            reference: None,
            ..
        }
    ));
}

#[test]
fn a_client_past_its_history_allowance_is_told_when_to_retry() {
    let mut core = room_of(
        3,
        Limits {
            history_rate_burst: 2,
            history_rate_per_sec: 1,
            ..Limits::default()
        },
    );
    page(&mut core, 1, 4, None);
    page(&mut core, 1, 4, None);
    assert_eq!(
        refusal(&mut core, 1, ask(4, None)),
        (ErrorCode::RateLimited, Some(1_000))
    );
    assert_eq!(
        refusal(&mut core, 1, ask(0, None)).0,
        ErrorCode::InvalidBefore,
        "a refused request costs no history allowance"
    );
    let later = core.handle(1, ask(4, None), 1_000);
    assert!(matches!(only(later).1, ServerFrame::History { .. }));
}

#[test]
fn an_answer_is_held_to_an_eighth_of_the_outbox() {
    let mut core = room_of(
        40,
        Limits {
            max_outbox_bytes: 8 * 1_000,
            ..Limits::default()
        },
    );
    let (ids, more) = page(&mut core, 1, 41, Some(40));
    assert!(more, "the rest is still kept");
    assert!(!ids.is_empty() && ids.len() < 40, "{ids:?}");
    assert_eq!(ids.last(), Some(&40), "the newest below before are kept");
}
