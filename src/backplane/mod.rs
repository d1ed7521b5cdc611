//! The backplanes that do I/O, and the choice between them. The contract
//! the room core decides through (the [`Backplane`] trait, its log entries,
//! and the in-memory implementation that a single instance uses) is pure
//! and lives in [`crate::core::backplane`]; this folder holds what talks to
//! the outside: [`redis`], for several instances sharing one Redis server.
//! Nothing here reaches the transports or the room server.

#[cfg(test)]
pub(crate) mod contract;
pub(crate) mod redis;

use crate::config::Config;
use crate::core::backplane::memory::MemoryBackplane;
use crate::core::backplane::Backplane;
use crate::core::limits::Limits;

/// The backplane the configuration asks for: Redis when `--redis-url` is
/// given (connected once now, so a wrong URL stops the start), else memory.
pub(crate) fn open(config: &Config, limits: &Limits) -> std::io::Result<Box<dyn Backplane>> {
    match &config.redis_url {
        None => Ok(Box::new(MemoryBackplane::new(limits))),
        Some(url) => {
            let backplane =
                redis::RedisBackplane::connect(url, &config.redis_prefix, limits.history_size)
                    .map_err(std::io::Error::other)?
                    .with_max_rooms(limits.max_rooms);
            log::info!(
                "sharing rooms through Redis (key prefix {:?})",
                config.redis_prefix
            );
            Ok(Box::new(backplane))
        }
    }
}
