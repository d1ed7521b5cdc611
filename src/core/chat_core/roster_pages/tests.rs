//! Unit tests of the roster in pages over the in-memory backplane: the
//! welcome's roster for each kind of client below and above the big-room
//! size, paging with a cursor and a prefix, each refusal with its code and
//! the request's `ref`, the frame allowance, and that only the asker hears.

use super::super::tests::core_with;
use super::super::{Audience, ChatCore, Effect, MemberId};
use crate::core::client_key::ClientKey;
use crate::core::limits::Limits;
use crate::protocol::{ClientFrame, ErrorCode, RosterEntry, ServerFrame};

fn join_as(core: &mut ChatCore, id: MemberId, nick: &str, minor: Option<u32>) -> Vec<Effect> {
    core.connect(id, ClientKey::v4(id as u32, 32), None);
    let join = ClientFrame::Join {
        v: None,
        nick: nick.into(),
        room: Some("lobby".into()),
        since: None,
        resume: None,
        epoch: None,
        minor,
    };
    core.handle(id, join, 0)
}

/// A core whose lobby holds `nicks`, joined in that order by members 1, 2, …
fn room_of(nicks: &[&str], limits: Limits) -> ChatCore {
    let mut core = core_with(Limits {
        rate_burst: 1_000,
        address_rate_burst: 1_000,
        ..limits
    });
    for (n, nick) in nicks.iter().enumerate() {
        join_as(&mut core, n as MemberId + 1, nick, None);
    }
    core
}

/// The roster and `roster_next` of the welcome among `effects`.
fn welcome_roster(effects: &[Effect]) -> (Vec<String>, Option<String>, usize) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Send {
                frame:
                    ServerFrame::Welcome {
                        roster,
                        roster_next,
                        count,
                        ..
                    },
                ..
            } => Some((nicks(roster), roster_next.clone(), *count)),
            _ => None,
        })
        .expect("a welcome")
}

fn nicks(entries: &[RosterEntry]) -> Vec<String> {
    entries.iter().map(|e| e.nick.clone()).collect()
}

fn ask(after: Option<&str>, prefix: Option<&str>, limit: Option<u64>) -> ClientFrame {
    ClientFrame::Roster {
        after: after.map(Into::into),
        prefix: prefix.map(Into::into),
        limit,
        reference: Some("r".into()),
    }
}

/// The one frame an effect list sends, and to whom.
fn only(effects: Vec<Effect>) -> (Audience, ServerFrame) {
    let [Effect::Send { to, frame, .. }] = effects.as_slice() else {
        panic!("one frame expected, got {effects:?}");
    };
    (to.clone(), frame.clone())
}

/// A page's names, `next` and `count`, asked by `id`.
fn page(
    core: &mut ChatCore,
    id: MemberId,
    frame: ClientFrame,
) -> (Vec<String>, Option<String>, usize) {
    match only(core.handle(id, frame, 0)) {
        (
            Audience::Member(to),
            ServerFrame::Roster {
                reference,
                members,
                next,
                count,
            },
        ) if to == id && reference.as_deref() == Some("r") => (nicks(&members), next, count),
        other => panic!("not a roster answer to {id}: {other:?}"),
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
        ) if to == id && reference.as_deref() == Some("r") => (code, retry_ms),
        other => panic!("not an error with the ref: {other:?}"),
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn below_the_big_room_size_an_old_client_gets_everybody_in_join_order() {
    let mut core = room_of(&["zoe", "bob", "Ann"], Limits::default());
    let welcome = join_as(&mut core, 9, "carl", None);
    assert_eq!(
        welcome_roster(&welcome),
        (strings(&["zoe", "bob", "Ann", "carl"]), None, 4),
        "as minor versions 0 and 1 always had it"
    );
    let welcome = join_as(&mut core, 10, "dora", Some(1));
    assert_eq!(welcome_roster(&welcome).1, None);
}

#[test]
fn a_paging_client_gets_the_first_page_in_name_order_then_asks_for_the_rest() {
    let names: Vec<String> = (0..60).map(|n| format!("u{n:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut core = room_of(&refs, Limits::default());
    let welcome = join_as(&mut core, 100, "Ann", Some(2));
    let (first, next, count) = welcome_roster(&welcome);
    assert_eq!(count, 61);
    assert_eq!(first.len(), 50, "the default page");
    assert_eq!(first[0], "Ann");
    assert_eq!(first[49], "u48");
    assert_eq!(next.as_deref(), Some("u48"));
    let (rest, end, count) = page(&mut core, 100, ask(next.as_deref(), None, Some(100)));
    assert_eq!(
        rest,
        strings(&["u49", "u50", "u51", "u52", "u53", "u54", "u55", "u56", "u57", "u58", "u59"])
    );
    assert_eq!((end, count), (None, 61));
    // A small room's first page is the whole roster: no `roster_next`.
    let mut small = room_of(&["bob"], Limits::default());
    let welcome = join_as(&mut small, 2, "ann", Some(2));
    assert_eq!(
        welcome_roster(&welcome),
        (strings(&["ann", "bob"]), None, 2)
    );
}

#[test]
fn in_a_big_room_no_welcome_lists_more_than_a_page() {
    let limits = Limits {
        big_room_members: 150,
        max_room_members: 1_000,
        ..Limits::default()
    };
    let names: Vec<String> = (0..200).map(|n| format!("m{n:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut core = room_of(&refs, limits);
    let (old, next, count) = welcome_roster(&join_as(&mut core, 500, "old", None));
    assert_eq!(count, 201);
    assert_eq!(old.len(), 100, "the first page of the join order");
    assert_eq!((old[0].as_str(), old[99].as_str()), ("m000", "m099"));
    assert_eq!(
        next.as_deref(),
        Some(""),
        "the rest is paged from the start"
    );
    let (paged, next, _) = welcome_roster(&join_as(&mut core, 501, "new", Some(2)));
    assert!(paged.is_empty(), "a paging client asks for what it shows");
    assert_eq!(next.as_deref(), Some(""));
    let (found, _, count) = page(&mut core, 501, ask(None, Some("NE"), None));
    assert_eq!((found, count), (strings(&["new"]), 202));
}

#[test]
fn a_prefix_searches_the_whole_room_a_page_at_a_time() {
    let mut core = room_of(
        &["anna", "Bob", "andy", "ann", "Annie", "carl"],
        Limits::default(),
    );
    let (first, next, _) = page(&mut core, 2, ask(None, Some("an"), Some(2)));
    assert_eq!(first, strings(&["andy", "ann"]));
    let (second, next, _) = page(&mut core, 2, ask(next.as_deref(), Some("an"), Some(2)));
    assert_eq!(second, strings(&["anna", "Annie"]));
    assert_eq!(next, None, "nobody else's name starts with an");
    let (all, next, _) = page(&mut core, 2, ask(None, Some("AN"), None));
    assert_eq!((all.len(), next), (4, None));
}

#[test]
fn renames_and_departures_show_in_the_next_page() {
    let mut core = room_of(&["ann", "bob", "carl"], Limits::default());
    core.handle(1, ClientFrame::Nick { nick: "zed".into() }, 0);
    core.handle(2, ClientFrame::Leave {}, 0);
    let (names, next, count) = page(&mut core, 3, ask(None, None, None));
    assert_eq!((names, next, count), (strings(&["carl", "zed"]), None, 2));
}

#[test]
fn refuses_what_makes_no_sense_with_a_code_and_the_ref() {
    let mut core = room_of(&["ann"], Limits::default());
    core.connect(9, ClientKey::v4(9, 32), None);
    assert_eq!(
        refusal(&mut core, 9, ask(None, None, None)).0,
        ErrorCode::NotJoined
    );
    for limit in [0, 101, u64::MAX] {
        assert_eq!(
            refusal(&mut core, 1, ask(None, None, Some(limit))).0,
            ErrorCode::InvalidLimit,
            "limit {limit}"
        );
    }
    assert_eq!(
        page(&mut core, 1, ask(None, None, Some(100))).0,
        strings(&["ann"])
    );
    let long = "a".repeat(25);
    assert_eq!(
        refusal(&mut core, 1, ask(None, Some(&long), None)).0,
        ErrorCode::BadFrame
    );
    assert_eq!(
        refusal(&mut core, 1, ask(Some(&long), None, None)).0,
        ErrorCode::BadFrame
    );
    let long_ref = ClientFrame::Roster {
        after: None,
        prefix: None,
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
fn each_request_costs_a_frame_token_and_past_them_is_told_when_to_retry() {
    let mut core = core_with(Limits {
        rate_burst: 3,
        rate_per_sec: 1,
        address_rate_burst: 1_000,
        ..Limits::default()
    });
    join_as(&mut core, 1, "ann", Some(2));
    for _ in 0..3 {
        page(&mut core, 1, ask(None, None, None));
    }
    assert_eq!(
        refusal(&mut core, 1, ask(None, None, None)),
        (ErrorCode::RateLimited, Some(1_000))
    );
    let later = core.handle(1, ask(None, None, None), 1_000);
    assert!(matches!(only(later).1, ServerFrame::Roster { .. }));
}

#[test]
fn a_page_is_held_to_its_byte_bound() {
    let names: Vec<String> = (0..100).map(|n| format!("member-{n:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut core = room_of(
        &refs,
        Limits {
            max_outbox_bytes: 64 * 1_000,
            ..Limits::default()
        },
    );
    let (names, next, _) = page(&mut core, 1, ask(None, None, Some(100)));
    let written: usize = names.iter().map(|n| n.len() + 27).sum();
    assert!(
        written <= 1_000 && names.len() < 100,
        "{} names",
        names.len()
    );
    assert_eq!(next.as_deref(), names.last().map(String::as_str));
}
