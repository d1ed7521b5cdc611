//! What the scripts decide and keep, seen from several instances sharing
//! one Redis: nicknames, resumed joins, resent refs, reaped leases, the
//! trimmed log, snapshots and the expiry of empty rooms. It looks at keys
//! only to check what the scripts keep; the subscription and outages are
//! tested elsewhere.

use super::*;

#[test]
fn a_nickname_is_taken_across_instances() {
    let redis = TestRedis::start();
    let mut one = backplane(&redis, "parley:", 10);
    let mut two = backplane(&redis, "parley:", 10);
    one.join(join("a", "Ann", "lobby", 10)).unwrap();
    let refused = two.join(join("b", "ANN", "lobby", 10)).unwrap_err();
    assert_eq!(refused.code, ErrorCode::NickTaken);
    assert_eq!(refused.message, "the nickname ANN is taken in lobby");
    two.join(join("b", "Bob", "lobby", 10)).unwrap();
    let refused = one
        .rename(&room("lobby"), &tok("a"), &nick("bob"))
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::NickTaken);
    let full = two.join(join("c", "Cee", "lobby", 2)).unwrap_err();
    assert_eq!(
        (full.code, full.message.as_str()),
        (ErrorCode::RoomFull, "lobby is full")
    );
}

#[test]
fn a_rejoin_with_the_same_token_is_resumed_on_any_instance() {
    let redis = TestRedis::start();
    let mut one = backplane(&redis, "parley:", 10);
    let mut two = backplane(&redis, "parley:", 10);
    one.join(join("a", "Ann", "lobby", 10)).unwrap();
    one.join(join("b", "Bob", "lobby", 10)).unwrap();
    let entries = two.join(join("a", "Ann", "lobby", 2)).unwrap();
    assert_eq!(entries.len(), 1);
    let Event::Joined {
        count,
        resumed,
        origin: o,
        since,
        ..
    } = &entries[0].event
    else {
        panic!("not a join: {entries:?}");
    };
    assert_eq!((*count, *resumed), (2, true));
    assert_eq!((o, *since), (&origin(), Some(12_345_678_901_234_567)));
    let snapshot = two.snapshot(&room("lobby")).unwrap();
    assert_eq!(snapshot.members.len(), 2);
}

#[test]
fn a_resent_ref_gets_the_original_id_and_logs_nothing() {
    let redis = TestRedis::start();
    let mut one = backplane(&redis, "parley:", 10);
    let mut two = backplane(&redis, "parley:", 10);
    one.join(join("a", "Ann", "lobby", 10)).unwrap();
    let lobby = room("lobby");
    let first = one
        .say(&lobby, &tok("a"), "hi".into(), Some("r".into()), NOW)
        .unwrap();
    assert_eq!((first.id, first.entries.len()), (1, 1));
    let Event::Message {
        message, reference, ..
    } = &first.entries[0].event
    else {
        panic!("not a message: {first:?}");
    };
    assert_eq!(reference.as_deref(), Some("r"));
    assert_eq!(
        (message.ts, message.nick.as_str(), message.text.as_str()),
        (NOW, "Ann", "hi")
    );
    let again = two
        .say(&lobby, &tok("a"), "hi".into(), Some("r".into()), NOW + 5)
        .unwrap();
    assert_eq!(
        again,
        Said {
            id: 1,
            entries: Vec::new(),
            resend: true,
        }
    );
    let other = two
        .say(&lobby, &tok("a"), "hi".into(), Some("s".into()), NOW)
        .unwrap();
    assert_eq!(other.id, 2);
    let refused = two
        .say(&lobby, &tok("z"), "hi".into(), None, NOW)
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::NotJoined);
}

#[test]
fn refs_are_forgotten_with_their_messages() {
    let redis = TestRedis::start();
    let mut bp = backplane(&redis, "parley:", 2);
    bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    let lobby = room("lobby");
    for n in 1..=5 {
        let reference = Some(format!("r{n}"));
        bp.say(&lobby, &tok("a"), "m".into(), reference, NOW)
            .unwrap();
    }
    let mut raw = redis.conn();
    let refs: Vec<String> = redis::cmd("HKEYS")
        .arg("parley:{lobby}:refs")
        .query(&mut raw)
        .unwrap();
    assert_eq!(refs.len(), 2, "only the kept messages' refs: {refs:?}");
}

#[test]
fn a_lapsed_lease_is_reaped_once_by_any_instance() {
    let redis = TestRedis::start();
    let mut crashed = backplane(&redis, "parley:", 10);
    let mut alive = backplane(&redis, "parley:", 10);
    crashed.join(join("a", "Ann", "lobby", 10)).unwrap();
    crashed.join(join("b", "Bob", "lobby", 10)).unwrap();
    crashed.renew(&[tok("a")], 50).unwrap();
    alive.renew(&[tok("b")], 60_000).unwrap();
    assert_eq!(alive.reap().unwrap(), Vec::new(), "not lapsed yet");
    thread::sleep(Duration::from_millis(120));
    let reaped = alive.reap().unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        reaped[0].event,
        Event::Left {
            token: tok("a"),
            nick: "Ann".into(),
            count: 1,
            why: LeftWhy::Expired
        }
    );
    assert_eq!(crashed.reap().unwrap(), Vec::new(), "reaped once");
    // Ann's name is free again.
    alive.join(join("c", "ann", "lobby", 10)).unwrap();
}

#[test]
fn read_is_none_once_the_log_was_trimmed_past_the_cursor() {
    let redis = TestRedis::start();
    let mut bp = backplane(&redis, "parley:", 1);
    let lobby = room("lobby");
    let first = bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    let mut last = first[0].clone();
    for n in 0..(1 + LOG_TAIL + 300) {
        last = bp.typing(&lobby, &tok("a"), n % 2 == 0).unwrap().remove(0);
    }
    assert_eq!(bp.read(&lobby, 0).unwrap(), None, "the join was trimmed");
    assert_eq!(bp.read(&lobby, first[0].seq).unwrap(), None);
    let tail = bp
        .read(&lobby, last.prev)
        .unwrap()
        .expect("the newest is kept");
    assert_eq!(tail, vec![last.clone()]);
    assert_eq!(bp.read(&lobby, last.seq).unwrap(), Some(Vec::new()));
    let kept = bp
        .read(&lobby, last.seq - 1_000)
        .unwrap()
        .expect("1,000 back is kept");
    assert_eq!(kept.last(), Some(&last));
    assert!(
        kept.windows(2).all(|w| w[1].prev == w[0].seq),
        "kept entries chain"
    );
    assert_eq!(bp.read(&room("empty"), 0).unwrap(), Some(Vec::new()));
}

#[test]
fn a_snapshot_holds_members_history_and_a_stable_epoch() {
    let redis = TestRedis::start();
    let mut bp = backplane(&redis, "parley:", 2);
    let lobby = room("lobby");
    let fresh = bp.snapshot(&lobby).unwrap();
    assert_eq!((fresh.seq, fresh.last_id), (0, 0));
    assert!(fresh.members.is_empty() && fresh.history.is_empty());
    assert_eq!(fresh.epoch.len(), 12);
    bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    bp.join(join("b", "Bob", "lobby", 10)).unwrap();
    for text in ["one", "two", "three"] {
        bp.say(&lobby, &tok("b"), text.into(), None, NOW).unwrap();
    }
    let last = bp.typing(&lobby, &tok("a"), true).unwrap().remove(0);
    let snapshot = comparable_keep_seq(bp.snapshot(&lobby).unwrap());
    assert_eq!(snapshot.epoch, fresh.epoch, "the room keeps its epoch");
    assert_eq!((snapshot.seq, snapshot.last_id), (last.seq, 3));
    let members: Vec<_> = snapshot
        .members
        .iter()
        .map(|m| (&*m.token, m.nick.as_str(), m.order))
        .collect();
    assert_eq!(members, vec![("tok-a", "Ann", 1), ("tok-b", "Bob", 2)]);
    let history: Vec<_> = snapshot
        .history
        .iter()
        .map(|m| (m.id, m.text.as_str()))
        .collect();
    assert_eq!(history, vec![(2, "two"), (3, "three")]);
}

fn comparable_keep_seq(mut snapshot: Snapshot) -> Snapshot {
    snapshot.members.sort_by_key(|m| m.order);
    snapshot
}

#[test]
fn an_empty_room_expires_and_a_member_keeps_it() {
    let redis = TestRedis::start();
    let mut bp = backplane(&redis, "parley:", 2);
    bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    let mut raw = redis.conn();
    let ttl = |raw: &mut Connection| -> i64 {
        redis::cmd("PTTL")
            .arg("parley:{lobby}:meta")
            .query(raw)
            .unwrap()
    };
    assert_eq!(ttl(&mut raw), -1, "a room with members does not expire");
    bp.leave(&room("lobby"), &tok("a"), LeftWhy::Left).unwrap();
    assert!(ttl(&mut raw) > 0, "an empty room expires");
    bp.join(join("a", "Ann", "lobby", 10)).unwrap();
    assert_eq!(ttl(&mut raw), -1);
}
