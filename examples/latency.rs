//! Delivery latency probe: one WebSocket sender posts messages on a fixed
//! schedule to a room; N receivers (long-polling or WebSocket) record when
//! each arrives. Latency is measured from the *scheduled* send time, so a
//! sender that falls behind cannot hide delay (no coordinated omission).
//! Prints deliveries, losses, and p50/p90/p99/max in milliseconds.
//!
//! Run against a server started with a rate limit high enough for the
//! sender, e.g.
//!   cargo run --release -- --port 3900 --rate-burst 100000 --rate-per-sec 100000 &
//!   cargo run --release --example latency -- http://127.0.0.1:3900 polling 10 100 10
//! (base URL, receiver transport, receivers, messages per second, seconds).
//! A sixth argument, another instance's base URL, puts the sender there:
//! the receivers then measure delivery across instances through Redis, e.g.
//!   cargo run --release -- --port 3900 --redis-url redis://127.0.0.1:6379 ... &
//!   cargo run --release -- --port 3901 --redis-url redis://127.0.0.1:6379 ... &
//!   cargo run --release --example latency -- http://127.0.0.1:3900 websocket 10 100 10 http://127.0.0.1:3901

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn poll_receiver(
    base: String,
    nick: String,
    room: String,
    deadline: Instant,
) -> Vec<(u64, u64)> {
    let http = reqwest::Client::new();
    let open: Value = http
        .post(format!("{base}/poll/open"))
        .body(json!({"type": "join", "nick": nick, "room": room}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = open["session"].as_str().unwrap().to_owned();
    let mut cursor = open["cursor"].as_u64().unwrap();
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let response = http
            .get(format!("{base}/poll?cursor={cursor}"))
            .header("Parley-Session", &session)
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            eprintln!(
                "poll answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            break;
        }
        let batch: Value = response.json().await.unwrap();
        let arrived = now_us();
        cursor = batch["cursor"].as_u64().unwrap();
        for frame in batch["frames"].as_array().unwrap() {
            if frame["type"] == "message" {
                let scheduled: u64 = frame["text"].as_str().unwrap().parse().unwrap();
                seen.push((frame["id"].as_u64().unwrap(), arrived - scheduled));
            }
        }
    }
    let _ = http
        .post(format!("{base}/poll/close"))
        .header("Parley-Session", &session)
        .send()
        .await;
    seen
}

async fn ws_receiver(
    base: String,
    nick: String,
    room: String,
    deadline: Instant,
) -> Vec<(u64, u64)> {
    let url = format!("{}/ws", base.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
        .send(Message::text(
            json!({"type": "join", "nick": nick, "room": room}).to_string(),
        ))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        socket.next(),
    )
    .await
    {
        if let Message::Text(text) = message {
            let arrived = now_us();
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "message" {
                let scheduled: u64 = frame["text"].as_str().unwrap().parse().unwrap();
                seen.push((frame["id"].as_u64().unwrap(), arrived - scheduled));
            }
        }
    }
    seen
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:3900".into());
    let transport = args.get(2).cloned().unwrap_or_else(|| "polling".into());
    let receivers: usize = args.get(3).map_or(10, |a| a.parse().unwrap());
    let rate: u64 = args.get(4).map_or(100, |a| a.parse().unwrap());
    let seconds: u64 = args.get(5).map_or(10, |a| a.parse().unwrap());
    let sender_base = args.get(6).cloned().unwrap_or_else(|| base.clone());
    let room = format!("latency{}", now_us() % 100_000);
    let total = rate * seconds;
    let deadline = Instant::now() + Duration::from_secs(seconds + 5);

    let mut tasks = Vec::new();
    for i in 0..receivers {
        let (base, nick, room) = (base.clone(), format!("r{i}"), room.clone());
        tasks.push(match transport.as_str() {
            "websocket" => tokio::spawn(ws_receiver(base, nick, room, deadline)),
            _ => tokio::spawn(poll_receiver(base, nick, room, deadline)),
        });
    }
    // Give receivers their welcome before the first send.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let url = format!("{}/ws", sender_base.replacen("http", "ws", 1));
    let (mut sender, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    sender
        .send(Message::text(
            json!({"type": "join", "nick": "sender", "room": room}).to_string(),
        ))
        .await
        .unwrap();
    let (mut write, mut read) = sender.split();
    tokio::spawn(async move { while read.next().await.is_some() {} });
    let start_us = now_us() + 100_000;
    let interval_us = 1_000_000 / rate;
    for n in 0..total {
        let scheduled = start_us + n * interval_us;
        let wait = scheduled.saturating_sub(now_us());
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(wait)).await;
        }
        write
            .send(Message::text(
                json!({"type": "say", "text": scheduled.to_string()}).to_string(),
            ))
            .await
            .unwrap();
    }

    let mut latencies = Vec::new();
    let mut per_id: HashMap<u64, usize> = HashMap::new();
    for task in tasks {
        for (id, latency) in task.await.unwrap() {
            *per_id.entry(id).or_default() += 1;
            latencies.push(latency);
        }
    }
    latencies.sort_unstable();
    let expected = total as usize * receivers;
    let duplicates = per_id.values().filter(|&&n| n > receivers).count();
    println!(
        "receivers={receivers} transport={transport} rate={rate}/s seconds={seconds} deliveries={}/{expected} lost={} duplicated_ids={duplicates}",
        latencies.len(),
        expected.saturating_sub(latencies.len())
    );
    if !latencies.is_empty() {
        println!(
            "latency_ms p50={:.2} p90={:.2} p99={:.2} max={:.2}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0)
        );
    }
}
