//! `parley export` and `parley import`: a room's history as JSON lines,
//! one message a line (`{"room","epoch","id","ts","nick","text"}`), out of
//! the backplane the flags name and back into one, so a chat can move
//! between a single instance (`--data-dir`) and Redis (`--redis-url`), or
//! be backed up as text. Export reads the data directory's whole file (the
//! server stopped), or what Redis keeps. Import goes through the
//! [`Backplane`] trait like a client would, so it writes the same rows a
//! running server would: each nickname joins, says its messages with their
//! original times, and leaves. Ids are the target room's next ones.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::redis::RedisBackplane;
use super::store::{self, StoreBackplane};
use crate::config::Config;
use crate::core::backplane::{Backplane, JoinRequest, LeftWhy, Origin, ResumeToken};
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ChatMessage;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Line {
    room: String,
    epoch: String,
    id: u64,
    ts: u64,
    nick: String,
    text: String,
}

/// Writes every message of `room` kept by the backplane `config` names
/// as JSON lines to `out`; answers how many.
pub fn export(config: &Config, room: &str, out: &mut dyn Write) -> Result<u64, String> {
    let name = RoomName::parse(room).map_err(|e| format!("{room:?} is not a room name: {e:?}"))?;
    let (epoch, messages): (String, Vec<Arc<ChatMessage>>) = match &config.redis_url {
        Some(url) => {
            let limits = config.limits();
            let mut redis = RedisBackplane::connect_to(
                url,
                config.redis_cluster,
                &config.redis_prefix,
                limits.history_size,
            )?;
            let snapshot = redis.snapshot(&name).map_err(|e| e.message)?;
            (snapshot.epoch, snapshot.history)
        }
        None => {
            let dir = config
                .data_dir()
                .ok_or("--data-dir none keeps nothing to export")?;
            let kept = store::read_room(&dir, name.as_str())?
                .ok_or_else(|| format!("no room {room:?} in {}", dir.display()))?;
            (kept.epoch, kept.messages)
        }
    };
    let mut count = 0;
    for message in messages {
        let line = Line {
            room: name.as_str().to_owned(),
            epoch: epoch.clone(),
            id: message.id,
            ts: message.ts,
            nick: message.nick.clone(),
            text: message.text.clone(),
        };
        // unwrap: a struct of strings and numbers always serialises.
        let json = serde_json::to_string(&line).unwrap();
        writeln!(out, "{json}").map_err(|e| format!("cannot write: {e}"))?;
        count += 1;
    }
    Ok(count)
}

/// Reads JSON lines from `input` and says each message, in order, into
/// the backplane `config` names; answers how many.
pub fn import(config: &Config, input: &mut dyn BufRead) -> Result<u64, String> {
    let limits = config.limits();
    let mut backplane: Box<dyn Backplane> = match &config.redis_url {
        Some(url) => Box::new(
            RedisBackplane::connect_to(
                url,
                config.redis_cluster,
                &config.redis_prefix,
                limits.history_size,
            )?
            .with_max_rooms(limits.max_rooms),
        ),
        None => {
            let dir = config
                .data_dir()
                .ok_or("--data-dir none would keep nothing: name a data directory or Redis")?;
            let (mut store, _) = StoreBackplane::open(
                &dir,
                config.fsync,
                config.retention(),
                &limits,
                Duration::from_secs(config.lease_secs),
            )?;
            // Nobody applies the entries: let them go once committed.
            store.subscribe(Box::new(|_| {}));
            Box::new(store)
        }
    };
    let origin = Origin {
        node: Arc::from("parley-import"),
        member: 0,
    };
    // (room, nick) → the token it joined with.
    let mut joined: HashMap<(RoomName, String), ResumeToken> = HashMap::new();
    let mut count = 0;
    let mut result = Ok(());
    for (number, line) in input.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}", number + 1);
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                result = Err(at(e.to_string()));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let step = (|| -> Result<(), String> {
            let line: Line = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            let room =
                RoomName::parse(&line.room).map_err(|e| format!("room {:?}: {e:?}", line.room))?;
            let key = (room.clone(), line.nick.clone());
            let token = match joined.get(&key) {
                Some(token) => token.clone(),
                None => {
                    let nick = Nickname::parse(&line.nick, usize::MAX)
                        .map_err(|e| format!("nickname {:?}: {e:?}", line.nick))?;
                    let token =
                        ResumeToken::from(format!("import-{}", crate::core::ids::new_secret()));
                    backplane
                        .join(JoinRequest {
                            room: room.clone(),
                            nick,
                            token: token.clone(),
                            origin: origin.clone(),
                            since: None,
                            max_members: usize::MAX,
                            lease_ms: 60_000,
                        })
                        .map_err(|e| {
                            format!("{:?} cannot join {room}: {}", line.nick, e.message)
                        })?;
                    joined.insert(key, token.clone());
                    token
                }
            };
            backplane
                .say(&room, &token, line.text, None, line.ts)
                .map_err(|e| e.message)?;
            Ok(())
        })();
        if let Err(e) = step {
            result = Err(at(e));
            break;
        }
        count += 1;
    }
    // Whatever happened, nobody stays joined.
    for ((room, _), token) in joined {
        let _ = backplane.leave(&room, &token, LeftWhy::Left);
    }
    // Dropping the store commits and syncs what it holds.
    drop(backplane);
    result.map(|()| count)
}
