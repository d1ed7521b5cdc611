//! The backplanes that do I/O, and the choice between them. The contract
//! the room core decides through (the [`Backplane`] trait, its log entries,
//! and the in-memory implementation) is pure and lives in
//! [`crate::core::backplane`]; this folder holds what talks to the outside:
//! [`store`], the embedded store a single instance keeps its rooms in (the
//! default), and [`redis`], for several instances sharing one Redis server.
//! Nothing here reaches the transports or the room server.

#[cfg(test)]
pub(crate) mod contract;
pub(crate) mod redis;
pub(crate) mod store;
pub(crate) mod transfer;

use std::time::Duration;

use crate::config::Config;
use crate::core::backplane::memory::MemoryBackplane;
use crate::core::backplane::Backplane;
use crate::core::limits::Limits;

/// The backplane the configuration asks for: Redis when `--redis-url` is
/// given (connected once now, so a wrong URL stops the start), else the
/// embedded store in `--data-dir` (opened and loaded now, so a locked or
/// unreadable directory stops the start), else memory alone.
pub(crate) fn open(config: &Config, limits: &Limits) -> std::io::Result<Box<dyn Backplane>> {
    match &config.redis_url {
        None => match config.data_dir() {
            None => {
                log::info!("keeping rooms in memory only (--data-dir none): a restart loses them");
                Ok(Box::new(MemoryBackplane::new(limits)))
            }
            Some(dir) => {
                let (store, opened) = store::StoreBackplane::open(
                    &dir,
                    config.fsync,
                    config.retention(),
                    limits,
                    Duration::from_secs(config.lease_secs),
                )
                .map_err(std::io::Error::other)?;
                let shown = dir.canonicalize().unwrap_or(dir);
                log::info!(
                    "keeping rooms in {} (--fsync {}): {} rooms and {} recent messages loaded in {} ms",
                    shown.join(store::FILE_NAME).display(),
                    format!("{:?}", config.fsync).to_lowercase(),
                    opened.rooms,
                    opened.messages,
                    opened.took.as_millis()
                );
                if opened.swept != store::Swept::default() {
                    log::info!(
                        "retention deleted {} messages and {} empty rooms at start",
                        opened.swept.messages,
                        opened.swept.rooms
                    );
                }
                Ok(Box::new(store))
            }
        },
        Some(url) => {
            let backplane = redis::RedisBackplane::connect_to(
                url,
                config.redis_cluster,
                &config.redis_prefix,
                limits.history_size,
            )
            .map_err(std::io::Error::other)?
            .with_max_rooms(limits.max_rooms)
            .pipelined()
            .map_err(std::io::Error::other)?;
            log::info!(
                "sharing rooms through Redis (key prefix {:?})",
                config.redis_prefix
            );
            Ok(Box::new(backplane))
        }
    }
}
