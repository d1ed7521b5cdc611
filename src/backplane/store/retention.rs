//! What the store deletes in the background (`--retention-messages`,
//! `--retention-days`, `--empty-room-days`): a room's oldest messages past
//! its count or age, with the log rows up to the newest of them, and rooms
//! with no member and nothing new for too long, whole. Runs on the writer
//! thread between commits, in transactions of its own that are not synced
//! (a sweep lost to a crash is done again by the next one). Reads and
//! writes the tables `tables.rs` defines; knows nothing of the feed.

use redb::{Database, Durability, ReadableTable};

use super::tables::{failed, Failure, MessageRow, RoomRow, LOG, MEMBERS, MESSAGES, ROOMS};
use crate::config::Retention;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Messages deleted for their count or age.
    pub(crate) messages: u64,
    /// Rooms deleted for being empty and idle.
    pub(crate) rooms: u64,
}

/// Applies `retention` as of `now_ms` to every room, or to `only`.
pub(super) fn sweep(
    db: &Database,
    retention: &Retention,
    now_ms: u64,
    only: Option<&str>,
) -> Result<Swept, Failure> {
    let mut swept = Swept::default();
    let mut txn = db.begin_write().map_err(|e| failed("begin")(&e))?;
    txn.set_durability(Durability::None)
        .map_err(|e| failed("durability")(&e))?;
    {
        let mut rooms = txn.open_table(ROOMS).map_err(|e| failed("rooms")(&e))?;
        let mut messages = txn
            .open_table(MESSAGES)
            .map_err(|e| failed("messages")(&e))?;
        let mut log = txn.open_table(LOG).map_err(|e| failed("log")(&e))?;
        let members = txn.open_table(MEMBERS).map_err(|e| failed("members")(&e))?;
        let mut heads = Vec::new();
        match only {
            Some(room) => {
                if let Some(row) = rooms.get(room).map_err(|e| failed("read room")(&e))? {
                    let head: RoomRow =
                        serde_json::from_str(row.value()).map_err(|e| failed("room row")(&e))?;
                    heads.push((room.to_owned(), head));
                }
            }
            None => {
                for row in rooms.range(..).map_err(|e| failed("read rooms")(&e))? {
                    let (name, row) = row.map_err(|e| failed("read rooms")(&e))?;
                    let head: RoomRow =
                        serde_json::from_str(row.value()).map_err(|e| failed("room row")(&e))?;
                    heads.push((name.value().to_owned(), head));
                }
            }
        }
        for (name, mut head) in heads {
            let room = name.as_str();
            let all = (room, 0)..=(room, u64::MAX);
            if let Some(idle) = retention.empty_room_ms {
                let empty = match members
                    .range((room, "")..)
                    .map_err(|e| failed("read members")(&e))?
                    .next()
                {
                    Some(row) => row.map_err(|e| failed("read members")(&e))?.0.value().0 != room,
                    None => true,
                };
                match head.at {
                    Some(at) if empty && at.saturating_add(idle) <= now_ms => {
                        messages
                            .retain_in(all.clone(), |_, _| false)
                            .map_err(|e| failed("forget messages")(&e))?;
                        log.retain_in(all, |_, _| false)
                            .map_err(|e| failed("forget log")(&e))?;
                        rooms.remove(room).map_err(|e| failed("forget room")(&e))?;
                        swept.rooms += 1;
                        continue;
                    }
                    Some(_) => {}
                    // A room from before rooms were dated: its idle time
                    // starts now.
                    None => {
                        head.at = Some(now_ms);
                        let row = serde_json::to_string(&head).map_err(|e| failed("encode")(&e))?;
                        rooms
                            .insert(room, row.as_str())
                            .map_err(|e| failed("write room")(&e))?;
                    }
                }
            }
            // The newest message id to delete, by count, then by age.
            let mut cutoff = retention
                .messages
                .map_or(0, |kept| head.last_id.saturating_sub(kept));
            if let Some(age) = retention.max_age_ms {
                let oldest_kept = now_ms.saturating_sub(age);
                for row in messages
                    .range((room, cutoff.saturating_add(1))..=(room, u64::MAX))
                    .map_err(|e| failed("read messages")(&e))?
                {
                    let (key, row) = row.map_err(|e| failed("read messages")(&e))?;
                    let row: MessageRow =
                        serde_json::from_str(row.value()).map_err(|e| failed("message row")(&e))?;
                    if row.m.ts >= oldest_kept {
                        break;
                    }
                    cutoff = key.value().1;
                }
            }
            if cutoff == 0 {
                continue;
            }
            // The log rows up to the newest deleted message go too, so that
            // no log row names a message that is gone.
            let mut last_seq = None;
            let mut deleted = 0;
            for row in messages
                .range((room, 0)..=(room, cutoff))
                .map_err(|e| failed("read messages")(&e))?
            {
                let (_, row) = row.map_err(|e| failed("read messages")(&e))?;
                let row: MessageRow =
                    serde_json::from_str(row.value()).map_err(|e| failed("message row")(&e))?;
                last_seq = Some(row.seq);
                deleted += 1;
            }
            let Some(last_seq) = last_seq else {
                continue;
            };
            messages
                .retain_in((room, 0)..=(room, cutoff), |_, _| false)
                .map_err(|e| failed("trim messages")(&e))?;
            log.retain_in((room, 0)..=(room, last_seq), |_, _| false)
                .map_err(|e| failed("trim log")(&e))?;
            swept.messages += deleted;
        }
    }
    txn.commit().map_err(|e| failed("commit")(&e))?;
    Ok(swept)
}
