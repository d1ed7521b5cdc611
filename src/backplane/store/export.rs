//! Reading one room's whole history out of a data directory, for `parley
//! export`: every message the file holds (not only the hot tail a running
//! store loads), oldest first, with the room's epoch. Opens the file read
//! only, so the server must be stopped (its lock is exclusive); writes
//! nothing.

use std::path::Path;
use std::sync::Arc;

use redb::{DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable};

use super::tables::{failed, MessageRow, RoomRow, MESSAGES, ROOMS};
use super::FILE_NAME;
use crate::protocol::ChatMessage;

/// A room as the file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptRoom {
    /// Its epoch.
    pub(crate) epoch: String,
    /// Every message kept, oldest first.
    pub(crate) messages: Vec<Arc<ChatMessage>>,
}

/// Every message of `room` kept in the data directory `dir`, or `None`
/// when the file has no such room. Fails naming the path when the file is
/// missing, unreadable or in use by a running server.
pub(crate) fn read_room(dir: &Path, room: &str) -> Result<Option<KeptRoom>, String> {
    let path = dir.join(FILE_NAME);
    let db = ReadOnlyDatabase::open(&path).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => format!(
            "{} is in use by a running Parley: stop it first, or export from a copy",
            path.display()
        ),
        e => format!("cannot open the store {}: {e}", path.display()),
    })?;
    let read = |e: String| format!("cannot read the store {}: {e}", path.display());
    let txn = db.begin_read().map_err(|e| read(e.to_string()))?;
    let Ok(rooms) = txn.open_table(ROOMS) else {
        return Ok(None);
    };
    let Some(row) = rooms.get(room).map_err(|e| read(e.to_string()))? else {
        return Ok(None);
    };
    let head: RoomRow =
        serde_json::from_str(row.value()).map_err(|e| read(failed("room row")(&e)))?;
    let messages = txn.open_table(MESSAGES).map_err(|e| read(e.to_string()))?;
    let mut kept = Vec::new();
    for row in messages
        .range((room, 0)..=(room, u64::MAX))
        .map_err(|e| read(e.to_string()))?
    {
        let (_, row) = row.map_err(|e| read(e.to_string()))?;
        let row: MessageRow =
            serde_json::from_str(row.value()).map_err(|e| read(failed("message row")(&e)))?;
        kept.push(row.m);
    }
    Ok(Some(KeptRoom {
        epoch: head.epoch,
        messages: kept,
    }))
}
