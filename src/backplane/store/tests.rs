//! Tests of the embedded store on temporary directories: it holds to the
//! contract the in-memory and Redis backplanes share (`contract.rs`); its
//! entries come back through the feed, not from the call; a reopened
//! store has every committed message with its ids, epoch and resend
//! memory, members and polling sessions; retention deletes what it
//! should and leaves a file that loads; and a directory already in use is
//! refused by name.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Mutex;

use redb::Database;

use super::*;
use crate::backplane::contract::{check_chains, comparable, drive, join, room, script, tok, NOW};
use crate::core::backplane::Event;

/// A temporary directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "parley-store-{name}-{}-{}",
            std::process::id(),
            crate::core::ids::new_secret()[..8].to_owned()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long restored members hold their places.
const GRACE: Duration = Duration::from_secs(60);

fn limits() -> Limits {
    Limits {
        history_size: 3,
        max_rooms: 100,
        ..Limits::default()
    }
}

/// The store seen as the contract sees a backplane: each call answers the
/// entries it wrote, taken from the feed once they are committed.
struct Fed {
    store: StoreBackplane,
    fed: Receiver<Logged>,
}

impl Fed {
    fn open(dir: &Path) -> Fed {
        let (mut store, _) =
            StoreBackplane::open(dir, Fsync::Always, Retention::default(), &limits(), GRACE)
                .unwrap();
        let (to, fed) = channel();
        let to = Mutex::new(to);
        store.subscribe(Box::new(move |logged| {
            let _ = lock(&to).send(logged);
        }));
        Fed { store, fed }
    }

    /// What was fed, once everything decided is committed.
    fn settled(&mut self) -> Vec<Entry> {
        self.store.settle().unwrap();
        let mut entries = Vec::new();
        while let Ok(logged) = self.fed.try_recv() {
            if let Logged::Entries(more) = logged {
                entries.extend(more);
            }
        }
        entries
    }

    fn answer(&mut self, call: Result<Vec<Entry>, Refusal>) -> Result<Vec<Entry>, Refusal> {
        let answered = call?;
        assert!(answered.is_empty(), "the store answers its entries late");
        Ok(self.settled())
    }
}

impl Backplane for Fed {
    fn before(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, Refusal> {
        self.store.before(room, before, limit)
    }
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal> {
        let call = self.store.join(request);
        self.answer(call)
    }
    fn leave(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        let call = self.store.leave(room, token, why);
        self.answer(call)
    }
    fn rename(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal> {
        let call = self.store.rename(room, token, nick);
        self.answer(call)
    }
    fn typing(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        on: bool,
    ) -> Result<Vec<Entry>, Refusal> {
        let call = self.store.typing(room, token, on);
        self.answer(call)
    }
    fn say(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Result<Said, Refusal> {
        let said = self.store.say(room, token, text, reference, now_ms)?;
        assert!(
            said.entries.is_empty(),
            "the store answers its entries late"
        );
        Ok(Said {
            entries: self.settled(),
            ..said
        })
    }
    fn snapshot(&mut self, room: &RoomName) -> Result<Snapshot, Refusal> {
        self.store.snapshot(room)
    }
    fn read(&mut self, room: &RoomName, after: u64) -> Result<Option<Vec<Entry>>, Refusal> {
        self.store.read(room, after)
    }
    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal> {
        self.store.renew(tokens, ttl_ms)
    }
    fn reap(&mut self) -> Result<Vec<Entry>, Refusal> {
        let call = self.store.reap();
        self.answer(call)
    }
    fn save_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) -> Result<(), Refusal> {
        self.store.save_poll(poll, record, ttl_ms)
    }
    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal> {
        self.store.find_poll(poll)
    }
    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal> {
        self.store.drop_poll(poll)
    }
}

#[test]
fn holds_to_the_contract_of_the_memory_backplane() {
    let dir = TempDir::new("contract");
    let steps = script();
    let mut in_memory = MemoryBackplane::new(&limits());
    let mut stored = Fed::open(&dir.0);
    let (want, memory_entries) = drive(&mut in_memory, &steps);
    let (got, store_entries) = drive(&mut stored, &steps);
    for (i, (want, got)) in want.iter().zip(&got).enumerate() {
        assert_eq!(got, want, "outcome {i} differs");
    }
    assert_eq!(got.len(), want.len());
    check_chains(&memory_entries);
    check_chains(&store_entries);
    for name in ["lobby", "side", "nowhere"] {
        let want = comparable(in_memory.snapshot(&room(name)).unwrap());
        let got = comparable(stored.snapshot(&room(name)).unwrap());
        assert_eq!(got, want, "snapshot of {name}");
        let events = |bp: &mut dyn Backplane| -> Vec<Event> {
            let kept = (0..)
                .find_map(|after| bp.read(&room(name), after).unwrap())
                .unwrap();
            kept.into_iter().map(|e| e.event).collect()
        };
        assert_eq!(events(&mut stored), events(&mut in_memory), "log of {name}");
    }
}

/// The log a backplane keeps for a room, from its oldest kept entry.
fn kept_log(bp: &mut dyn Backplane, name: &RoomName) -> Vec<Entry> {
    (0..)
        .find_map(|after| bp.read(name, after).unwrap())
        .unwrap()
}

#[test]
fn a_reopened_store_has_every_committed_message_with_its_ids_and_epoch() {
    let dir = TempDir::new("reopen");
    let lobby = room("lobby");
    let (epoch, seq, log) = {
        let mut fed = Fed::open(&dir.0);
        fed.join(join("a", "Ann", "lobby", 10)).unwrap();
        for (i, reference) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
            let text = format!("message {}", i + 1);
            let said = fed
                .say(&lobby, &tok("a"), text, Some(reference.to_string()), NOW)
                .unwrap();
            assert_eq!(said.id, i as u64 + 1);
        }
        let snapshot = fed.snapshot(&lobby).unwrap();
        (snapshot.epoch, snapshot.seq, kept_log(&mut fed, &lobby))
    };
    let mut fed = Fed::open(&dir.0);
    let snapshot = fed.snapshot(&lobby).unwrap();
    assert_eq!(snapshot.epoch, epoch, "the same incarnation");
    // The log tail back to the oldest message in the history: the same
    // entries, sharing their messages with it.
    let tail = kept_log(&mut fed, &lobby);
    assert_eq!(
        tail,
        log[log.len() - 3..],
        "the same log tail, from message 2"
    );
    assert_eq!((snapshot.seq, snapshot.last_id), (seq, 4));
    let texts: Vec<&str> = snapshot.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["message 2", "message 3", "message 4"],
        "the newest 3"
    );
    let held: Vec<&str> = snapshot.members.iter().map(|m| m.nick.as_str()).collect();
    assert_eq!(held, ["Ann"], "ann holds her place");
    let entries = fed.join(join("a", "Ann", "lobby", 10)).unwrap();
    assert_eq!(entries[0].prev, seq, "the room's log chains on");
    assert!(
        matches!(entries[0].event, Event::Joined { resumed: true, .. }),
        "her return is a resume, which nobody is told about"
    );
    let again = fed
        .say(&lobby, &tok("a"), "resent".into(), Some("r4".into()), NOW)
        .unwrap();
    assert!(again.resend);
    assert_eq!(again.id, 4, "a resend after the restart keeps its id");
    let next = fed
        .say(&lobby, &tok("a"), "five".into(), None, NOW)
        .unwrap();
    assert_eq!(next.id, 5);
    assert!(next.entries[0].seq > seq);
}

/// The ids of a page.
fn page_ids(page: &Page) -> Vec<u64> {
    page.messages.iter().map(|m| m.id).collect()
}

#[test]
fn older_messages_come_from_the_file_past_the_hot_tail_and_after_a_reopen() {
    let dir = TempDir::new("before");
    let lobby = room("lobby");
    {
        let mut fed = Fed::open(&dir.0);
        fed.join(join("a", "Ann", "lobby", 10)).unwrap();
        for i in 1..=20 {
            fed.say(&lobby, &tok("a"), format!("m{i}"), None, NOW)
                .unwrap();
        }
        // Memory keeps the newest 3 (`history_size`): a page within them
        // and one reaching past them.
        let page = fed.before(&lobby, 21, 2).unwrap();
        assert_eq!((page_ids(&page), page.more), (vec![19, 20], true));
        let page = fed.before(&lobby, 21, 10).unwrap();
        assert_eq!((page_ids(&page), page.more), ((11..=20).collect(), true));
    }
    let mut fed = Fed::open(&dir.0);
    let page = fed.before(&lobby, 11, 10).unwrap();
    assert_eq!((page_ids(&page), page.more), ((1..=10).collect(), false));
    let page = fed.before(&lobby, 3, 10).unwrap();
    assert_eq!((page_ids(&page), page.more), (vec![1, 2], false));
    let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m1", "m2"]);
    let nowhere = fed.before(&room("nowhere"), 5, 10).unwrap();
    assert_eq!((page_ids(&nowhere), nowhere.more), (vec![], false));
}

#[test]
fn a_say_is_answered_empty_and_its_entry_fed_once_committed() {
    let dir = TempDir::new("feed");
    let mut fed = Fed::open(&dir.0);
    fed.join(join("a", "Ann", "lobby", 10)).unwrap();
    let said = fed
        .store
        .say(
            &room("lobby"),
            &tok("a"),
            "hi".into(),
            Some("r".into()),
            NOW,
        )
        .unwrap();
    assert_eq!((said.id, said.resend), (1, false));
    assert!(said.entries.is_empty());
    let fed_entries = fed.settled();
    assert!(matches!(
        &fed_entries[..],
        [Entry { event: Event::Message { message, .. }, .. }] if message.text == "hi"
    ));
}

#[test]
fn a_polling_session_is_kept_until_dropped() {
    let dir = TempDir::new("polls");
    let record = |t: &str| PollRecord {
        token: tok(t),
        room: Some("lobby".into()),
    };
    {
        let mut fed = Fed::open(&dir.0);
        fed.join(join("a", "Ann", "lobby", 10)).unwrap();
        fed.join(join("b", "Bob", "lobby", 10)).unwrap();
        fed.save_poll("pa", &record("a"), 60_000).unwrap();
        fed.save_poll("pb", &record("b"), 60_000).unwrap();
        // Polled again at once: nothing new to write.
        fed.save_poll("pa", &record("a"), 60_000).unwrap();
    }
    {
        let mut fed = Fed::open(&dir.0);
        assert_eq!(fed.find_poll("pa").unwrap(), Some(record("a")));
        assert_eq!(fed.find_poll("pb").unwrap(), Some(record("b")));
        fed.drop_poll("pb").unwrap();
    }
    let mut fed = Fed::open(&dir.0);
    assert_eq!(fed.find_poll("pa").unwrap(), Some(record("a")));
    assert_eq!(
        fed.find_poll("pb").unwrap(),
        None,
        "ended sessions stay ended"
    );
}

/// The ids of `room`'s message rows.
fn message_ids(db: &Database, room: &str) -> Vec<u64> {
    use redb::{ReadableDatabase, ReadableTable};
    let txn = db.begin_read().unwrap();
    let messages = txn.open_table(tables::MESSAGES).unwrap();
    messages
        .range((room, 0)..=(room, u64::MAX))
        .unwrap()
        .map(|row| row.unwrap().0.value().1)
        .collect()
}

const DAY: u64 = 86_400_000;

#[test]
fn retention_deletes_by_count_by_age_and_empty_rooms_whole() {
    let dir = TempDir::new("retention");
    {
        let mut fed = Fed::open(&dir.0);
        fed.join(join("a", "Ann", "lobby", 10)).unwrap();
        for i in 1..=10 {
            fed.say(&room("lobby"), &tok("a"), format!("m{i}"), None, NOW)
                .unwrap();
        }
        fed.join(join("b", "Bob", "old", 10)).unwrap();
        for i in 1..=4 {
            let ts = if i <= 2 { NOW } else { NOW + 3 * DAY };
            fed.say(&room("old"), &tok("b"), format!("o{i}"), None, ts)
                .unwrap();
        }
        fed.join(join("c", "Cat", "gone", 10)).unwrap();
        fed.say(&room("gone"), &tok("c"), "bye".into(), None, NOW)
            .unwrap();
        fed.leave(&room("gone"), &tok("c"), LeftWhy::Left).unwrap();
        fed.settled();
    }
    let db = tables::open(&dir.0.join(FILE_NAME)).unwrap();
    let by_count = Retention {
        messages: Some(4),
        ..Retention::default()
    };
    let swept = retention::sweep(&db, &by_count, NOW, None).unwrap();
    assert_eq!(
        swept,
        Swept {
            messages: 6,
            rooms: 0
        }
    );
    assert_eq!(message_ids(&db, "lobby"), [7, 8, 9, 10]);
    assert_eq!(message_ids(&db, "old"), [1, 2, 3, 4], "within the count");

    let by_age = Retention {
        max_age_ms: Some(DAY),
        ..Retention::default()
    };
    let swept = retention::sweep(&db, &by_age, NOW + 2 * DAY, None).unwrap();
    assert_eq!(swept.messages, 4 + 2 + 1, "older than a day");
    assert_eq!(message_ids(&db, "old"), [3, 4]);
    assert_eq!(message_ids(&db, "lobby"), Vec::<u64>::new());

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let empty = Retention {
        empty_room_ms: Some(DAY),
        ..Retention::default()
    };
    let swept = retention::sweep(&db, &empty, now, None).unwrap();
    assert_eq!(swept.rooms, 0, "not idle long enough");
    let swept = retention::sweep(&db, &empty, now + 2 * DAY, None).unwrap();
    assert_eq!(swept.rooms, 1, "only the room nobody is in");
    // What is left loads, with no log row naming a deleted message.
    let bounds = tables::LoadBounds {
        history: 10,
        log_cap: 100,
        room_bytes: usize::MAX,
        all_bytes: usize::MAX,
    };
    let (_, rooms, _) = tables::load(&db, bounds, now).unwrap();
    let mut names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["lobby", "old"]);
    let old = rooms.iter().find(|r| r.name.as_str() == "old").unwrap();
    let kept: Vec<u64> = old.history.iter().map(|(m, _)| m.id).collect();
    assert_eq!(kept, [3, 4]);
    assert_eq!(old.last_id, 4, "ids go on from where they were");
}

#[test]
fn a_directory_in_use_is_refused_by_name() {
    let dir = TempDir::new("locked");
    let _first = StoreBackplane::open(
        &dir.0,
        Fsync::Always,
        Retention::default(),
        &limits(),
        GRACE,
    )
    .unwrap();
    let refused = StoreBackplane::open(
        &dir.0,
        Fsync::Always,
        Retention::default(),
        &limits(),
        GRACE,
    )
    .unwrap_err();
    assert!(refused.contains("in use"), "{refused}");
    let name = dir.0.canonicalize().unwrap();
    assert!(refused.contains(&name.display().to_string()), "{refused}");
}

/// Not a test: fills the directory named by `PARLEY_BENCH_FILL_DIR` with
/// 1,000 rooms of 500 messages of 100 characters each (a full default
/// history), for the restart-time figure in docs/BENCHMARKS.md:
/// `PARLEY_BENCH_FILL_DIR=/tmp/fill cargo nextest run -p parley
/// --run-ignored only -E 'test(fill_a_store)'`.
#[test]
#[ignore]
fn fill_a_store_for_the_restart_benchmark() {
    let Some(dir) = std::env::var_os("PARLEY_BENCH_FILL_DIR") else {
        panic!("set PARLEY_BENCH_FILL_DIR");
    };
    let limits = Limits::default();
    let (mut store, _) = StoreBackplane::open(
        Path::new(&dir),
        Fsync::Never,
        Retention::default(),
        &limits,
        GRACE,
    )
    .unwrap();
    let text = "x".repeat(100);
    for r in 0..1_000 {
        let name = format!("room-{r}");
        let who = format!("w{r}");
        store.join(join(&who, "Writer", &name, 10)).unwrap();
        for _ in 0..limits.history_size {
            store
                .say(&room(&name), &tok(&who), text.clone(), None, NOW)
                .unwrap();
        }
        store
            .leave(&room(&name), &tok(&who), LeftWhy::Left)
            .unwrap();
    }
    store.settle().unwrap();
}
