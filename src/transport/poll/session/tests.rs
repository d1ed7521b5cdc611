//! A polling session actor on its own, fed as its hub would feed it: what a
//! poll answers, when a waiting poll is answered, that acknowledged frames
//! give their bytes back to the backlog the hub bounds, and how an end
//! reaches the client. Plus the JSON a batch is written as.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::config::Transports;
use crate::core::backplane::memory::MemoryBackplane;
use crate::core::limits::Limits;
use crate::delivery::backlog::QueuePool;
use crate::delivery::hub::HubSettings;
use crate::http::client_gate::ClientGate;
use crate::http::origin::OriginPolicy;
use crate::metrics::Metrics;
use crate::room_server::chat_room::ChatRoom;

fn state() -> web::Data<AppState> {
    let limits = Limits::default();
    let metrics = Arc::new(Metrics::new());
    let backplane = Box::new(MemoryBackplane::new(&limits));
    let degraded = Arc::new(AtomicBool::new(false));
    let lease = Duration::from_secs(15);
    let room = ChatRoom::new(limits, metrics.clone(), backplane, lease, degraded.clone()).start();
    web::Data::new(AppState {
        rooms: crate::room_server::shards::RoomShards::new(vec![room.clone()]),
        delivery: HubSettings {
            max_backlog_bytes: limits.max_outbox_bytes,
            window: limits.coalesce,
            saturation_lag: limits.saturation_lag,
            metrics: metrics.clone(),
            slow_readers: room.clone().recipient(),
            polled: room.recipient(),
        },
        metrics: metrics.clone(),
        limits,
        origins: OriginPolicy::new(&[], None, ""),
        page: String::new(),
        check_page: String::new(),
        base_path: String::new(),
        public_url: None,
        transports: Transports {
            websocket: true,
            polling: true,
        },
        trusted_proxies: Vec::new(),
        gate: Arc::new(ClientGate::new(&limits)),
        degraded,
        queued: QueuePool::new(limits.max_queued_bytes, metrics.queue_evictions.clone()),
    })
}

fn start(backlog: &Backlog) -> Addr<PollSession> {
    let sessions = web::Data::new(Sessions::new(10, 10));
    let token: Arc<str> = Arc::from("t");
    PollSession::new(
        1,
        token,
        state(),
        sessions,
        backlog.clone(),
        now_ms(),
        Some(0),
    )
    .start()
}

/// Hands the session a frame of log seq `at`, reserved as its hub would.
fn feed(session: &Addr<PollSession>, backlog: &Backlog, text: &'static str, at: u64) {
    assert!(backlog.try_reserve(text.len(), usize::MAX));
    session.do_send(PollFeed::Frame(ByteString::from_static(text), at));
}

/// Polls with `cursor`; the answer, within a hang guard.
async fn poll(session: &Addr<PollSession>, cursor: u64) -> Batch {
    let (reply, answer) = oneshot::channel();
    session.do_send(Poll {
        cursor,
        wait: None,
        reply,
    });
    let answer = actix_rt::time::timeout(Duration::from_secs(5), answer);
    answer
        .await
        .expect("answered in time")
        .expect("session alive")
        .expect("not rate-limited")
}

#[actix_rt::test]
async fn frames_wait_for_a_poll_and_acknowledged_ones_free_their_bytes() {
    let backlog = Backlog::default();
    let session = start(&backlog);
    feed(&session, &backlog, "\"a\"", 1);
    feed(&session, &backlog, "\"bb\"", 1);
    let batch = poll(&session, 0).await;
    assert_eq!(batch.frames, ["\"a\"", "\"bb\""]);
    // Numbered by log seq, a sub-number for the second of the same entry.
    assert_eq!(batch.cursor, (1 << SUB_BITS) | 1);
    assert_eq!(backlog.pending(), 7, "kept until acknowledged");
    // The next poll acknowledges them and waits for the next frame.
    let (reply, answer) = oneshot::channel();
    session.do_send(Poll {
        cursor: batch.cursor,
        wait: None,
        reply,
    });
    feed(&session, &backlog, "\"c\"", 2);
    let batch = answer.await.expect("answered").expect("not limited");
    assert_eq!(batch.frames, ["\"c\""]);
    assert_eq!(batch.cursor, 2 << SUB_BITS);
    assert_eq!(backlog.pending(), 3, "the first two given back");
}

#[actix_rt::test]
async fn an_answer_carries_a_bounded_batch_and_the_next_poll_the_rest() {
    let backlog = Backlog::default();
    let session = start(&backlog);
    let big: &'static str = format!("\"{}\"", "x".repeat(MAX_BATCH_BYTES / 2)).leak();
    for seq in 1..=3 {
        feed(&session, &backlog, big, seq);
    }
    let first = poll(&session, 0).await;
    assert_eq!(first.frames.len(), 1, "two would pass the bound");
    assert_eq!(first.cursor, 1 << SUB_BITS);
    let second = poll(&session, first.cursor).await;
    assert_eq!(second.frames.len(), 1);
    assert_eq!(second.cursor, 2 << SUB_BITS);
    let third = poll(&session, second.cursor).await;
    assert_eq!(third.cursor, 3 << SUB_BITS);
    assert_eq!(backlog.pending(), big.len(), "only the last kept");
}

#[actix_rt::test]
async fn a_restart_drops_what_was_queued_and_its_bytes() {
    let backlog = Backlog::default();
    let session = start(&backlog);
    feed(&session, &backlog, "\"old\"", 3);
    session.do_send(PollFeed::Restart(1));
    feed(&session, &backlog, "\"new\"", 2);
    let batch = poll(&session, 0).await;
    assert_eq!(batch.frames, ["\"new\""]);
    assert_eq!(backlog.pending(), 5, "only the frame after the restart");
}

#[actix_rt::test]
async fn a_slow_reader_hears_its_close_in_the_poll_that_waits() {
    let backlog = Backlog::default();
    let session = start(&backlog);
    feed(&session, &backlog, "\"a\"", 1);
    let (reply, answer) = oneshot::channel();
    // Having read "a", it waits for more.
    session.do_send(Poll {
        cursor: 1 << SUB_BITS,
        wait: None,
        reply,
    });
    session.do_send(Close(CloseKind::SlowReader));
    let batch = answer.await.expect("answered").expect("not limited");
    assert!(batch.frames.is_empty());
    assert_eq!(batch.closed, Some(CloseKind::SlowReader));
    assert_eq!(backlog.pending(), 0);
}

#[actix_rt::test]
async fn its_own_replies_count_against_its_backlog() {
    let backlog = Backlog::default();
    let session = start(&backlog);
    session.do_send(PollFeed::Reply(ByteString::from_static("\"e\"")));
    let batch = poll(&session, 0).await;
    assert_eq!(batch.frames, ["\"e\""]);
    assert_eq!(backlog.pending(), 3);
}

#[test]
fn a_batch_is_json_with_the_frames_as_they_are() {
    let batch = Batch {
        cursor: 2049,
        frames: vec![
            ByteString::from_static(r#"{"type":"pong"}"#),
            ByteString::from_static(r#"{"type":"typing","nick":"a\"b"}"#),
        ],
        closed: Some(CloseKind::Replaced),
    };
    let json: Value = serde_json::from_str(&batch.to_json(Some("s\"1"))).expect("valid JSON");
    assert_eq!(json["session"], "s\"1");
    assert_eq!(json["cursor"], 2049);
    assert_eq!(json["frames"][1]["nick"], "a\"b");
    assert_eq!(json["closed"]["code"], 4001);
    let plain: Value = serde_json::from_str(&Batch::default().to_json(None)).expect("valid JSON");
    assert_eq!(plain, serde_json::json!({"cursor": 0, "frames": []}));
}

#[actix_rt::test]
async fn refusals_are_rate_limited_and_bounded_like_frames() {
    let backlog = Backlog::default();
    let session = start(&backlog);
    // 25 refusals at once: the reply bucket answers the first 20.
    for _ in 0..25 {
        session.do_send(PollFeed::Reply(ByteString::from_static("\"e\"")));
    }
    assert_eq!(poll(&session, 0).await.frames.len(), 20);

    // Refusals that pass the backlog bound (1 MiB) while the client does
    // not poll end the session as a slow reader, as frames would.
    let backlog = Backlog::default();
    let session = start(&backlog);
    let big = ByteString::from("x".repeat(100_000));
    for _ in 0..15 {
        session.do_send(PollFeed::Reply(big.clone()));
    }
    let (reply, answer) = oneshot::channel();
    session.do_send(Poll {
        cursor: 0,
        wait: None,
        reply,
    });
    // Answered with the close, or not at all if the session is gone.
    if let Ok(Ok(batch)) = answer.await {
        assert_eq!(batch.closed, Some(CloseKind::SlowReader));
    }
    assert!(backlog.is_dropped(), "dropped past its bound");
}
