//! The contract every backplane is held to, as a test harness: one
//! scripted sequence of calls ([`script`]) driven through two backplanes
//! must give the same outcomes, events, snapshots and logs, with seqs that
//! chain. The Redis equivalence test (`redis/tests/equivalence.rs`) and the
//! store's (`store/tests.rs`) both drive it against the in-memory
//! backplane. Test code only; it holds no backplane of its own.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::core::backplane::{
    Backplane, Entry, Event, JoinRequest, LeftWhy, Origin, PollRecord, ResumeToken, Snapshot,
};
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ErrorCode;

/// The clock every `say` of the script is stamped with.
pub(crate) const NOW: u64 = 1_700_000_000_123;

/// A member's token.
pub(crate) fn tok(who: &str) -> ResumeToken {
    ResumeToken::from(format!("tok-{who}"))
}

/// A room.
pub(crate) fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn nick(name: &str) -> Nickname {
    Nickname::parse(name, 32).unwrap()
}

/// A join of `who` as `name` into `in_room`, from a member id past 2^53
/// (which a float would not keep).
pub(crate) fn join(who: &str, name: &str, in_room: &str, max_members: usize) -> JoinRequest {
    JoinRequest {
        room: room(in_room),
        nick: nick(name),
        token: tok(who),
        origin: Origin {
            node: Arc::from("node-a"),
            member: (1 << 60) + 3,
        },
        since: Some(12_345_678_901_234_567),
        max_members,
        lease_ms: 60_000,
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
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
pub(crate) enum Outcome {
    Logged(Vec<(RoomName, Event)>),
    Said(u64, Vec<(RoomName, Event)>),
    Refused(ErrorCode),
    Found(Option<PollRecord>),
    Done,
}

pub(crate) fn drive(bp: &mut dyn Backplane, steps: &[Step]) -> (Vec<Outcome>, Vec<Entry>) {
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

/// Each entry names its room's previous one, and seqs increase within a
/// room and along each member's own entries (it moves between rooms): what
/// a member's connection is sent is numbered by them. Across rooms they
/// need not (the Redis backplane counts per room).
pub(crate) fn check_chains(entries: &[Entry]) {
    let mut last_in_room = std::collections::HashMap::new();
    let mut last_of_token = std::collections::HashMap::new();
    for entry in entries {
        let prev = last_in_room
            .insert(entry.room.clone(), entry.seq)
            .unwrap_or(0);
        assert_eq!(entry.prev, prev, "broken chain at {entry:?}");
        assert!(entry.seq > prev, "seq went back in its room at {entry:?}");
        let mine = last_of_token
            .insert(entry.event.token().clone(), entry.seq)
            .unwrap_or(0);
        assert!(
            entry.seq > mine,
            "seq went back for its member at {entry:?}"
        );
    }
}

pub(crate) fn comparable(mut snapshot: Snapshot) -> Snapshot {
    snapshot.epoch.clear();
    snapshot.seq = 0;
    snapshot.members.sort_by_key(|m| m.order);
    snapshot
}

/// The script: joins, resumes, renames, typing, says with and without
/// refs (resends among them), moves between rooms, leases lapsing and
/// polling records.
pub(crate) fn script() -> Vec<Step> {
    use Step::*;
    vec![
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
    ]
}
