//! Older messages on demand from the file: a `history` request that
//! reaches past what memory keeps of a room (its hot tail, bounded by
//! `--history-size` and the byte bounds) is answered from the `messages`
//! table, in a read transaction of its own beside the writer's commits
//! (redb lets readers and one writer work at once).

use redb::{Database, ReadableDatabase, ReadableTable};

use super::tables::{failed, Failure, MessageRow, MESSAGES};
use crate::core::backplane::Page;
use crate::core::rules::room_name::RoomName;

/// Up to `limit` of `room`'s messages with ids below `before`, oldest
/// first, and whether the file keeps an older one.
pub(super) fn before(
    db: &Database,
    room: &RoomName,
    before: u64,
    limit: usize,
) -> Result<Page, Failure> {
    let txn = db.begin_read().map_err(|e| failed("begin")(&e))?;
    let messages = match txn.open_table(MESSAGES) {
        Ok(table) => table,
        // A new file: nothing kept yet.
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Ok(Page {
                messages: Vec::new(),
                more: false,
            })
        }
        Err(e) => return Err(failed("messages")(&e)),
    };
    let below = (room.as_str(), 0)..(room.as_str(), before);
    let mut newest_first = Vec::with_capacity(limit.saturating_add(1).min(1024));
    for row in messages
        .range(below)
        .map_err(|e| failed("read messages")(&e))?
        .rev()
        .take(limit.saturating_add(1))
    {
        let (_, row) = row.map_err(|e| failed("read messages")(&e))?;
        let row: MessageRow =
            serde_json::from_str(row.value()).map_err(|e| failed("message row")(&e))?;
        newest_first.push(row.m);
    }
    let more = newest_first.len() > limit;
    newest_first.truncate(limit);
    newest_first.reverse();
    Ok(Page {
        messages: newest_first,
        more,
    })
}
