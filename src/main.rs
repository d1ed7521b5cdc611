//! The `parley` binary: parse the command line, then either print the
//! configuration `parley config TARGET` asked for, run `parley doctor`,
//! `parley export` or `parley import`, or start logging, serve
//! until Ctrl-C or SIGTERM and stop gracefully. Everything else is in the
//! library.

use std::io::Write;

use parley::{Command, Server};

/// jemalloc rather than glibc's malloc: an idle WebSocket costs about 3.4 KB
/// of resident memory with it and 4.0 KB without (docs/BENCHMARKS.md,
/// "Memory per idle WebSocket"). A connection is some 26 small blocks, and
/// glibc adds a header to each and rounds it up to at least 32 bytes, where
/// jemalloc keeps no header and has 8- and 16-byte classes. Not on MSVC,
/// where jemalloc does not build.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings: a background thread returns freed memory to the
/// system about a second after it is freed, rather than only when the
/// process next allocates, so the server shrinks back after a crowd
/// leaves even if nothing else happens (docs/BENCHMARKS.md, "Memory after
/// clients leave"). The `_RJEM_MALLOC_CONF` environment variable still
/// overrides it.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

/// jemalloc's statistics, as of now (its counters are refreshed by
/// advancing its epoch).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
fn heap_stats() -> Option<parley::HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(parley::HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(err) => {
                log::warn!("cannot listen for SIGTERM ({err}); Ctrl-C only");
                let _ = actix_rt::signal::ctrl_c().await;
                return;
            }
        };
        let interrupt = Box::pin(actix_rt::signal::ctrl_c());
        let terminate = Box::pin(term.recv());
        futures_select(interrupt, terminate).await;
    }
    #[cfg(not(unix))]
    {
        let _ = actix_rt::signal::ctrl_c().await;
    }
}

/// Waits for whichever of two futures completes first.
async fn futures_select<A: std::future::Future + Unpin, B: std::future::Future + Unpin>(
    mut a: A,
    mut b: B,
) {
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        if std::pin::Pin::new(&mut a).poll(cx).is_ready()
            || std::pin::Pin::new(&mut b).poll(cx).is_ready()
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Runs `parley export` or `parley import` off the runtime (the store and
/// Redis block), says how many messages it moved on standard error, and
/// exits: 0 when all of them, 1 with the reason otherwise.
async fn transfer<F>(run: F) -> !
where
    F: FnOnce() -> Result<u64, String> + Send + 'static,
{
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let outcome = actix_rt::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|e| Err(format!("stopped: {e}")));
    match outcome {
        Ok(count) => {
            log::warn!("{count} messages");
            std::process::exit(0);
        }
        Err(e) => {
            log::error!("{e}");
            std::process::exit(1);
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = match Command::from_args() {
        Command::Serve(config) => config,
        Command::Print(text) => return std::io::stdout().lock().write_all(text.as_bytes()),
        Command::Doctor(url) => {
            // The connection check, then exit: 0 only when both transports work.
            let works = actix_rt::task::spawn_blocking(move || {
                parley::doctor::run(&url, &mut std::io::stdout())
            })
            .await
            .unwrap_or(false);
            std::process::exit(if works { 0 } else { 1 });
        }
        Command::Export(config, room) => {
            transfer(move || parley::export(&config, &room, &mut std::io::stdout().lock())).await
        }
        Command::Import(config) => {
            transfer(move || parley::import(&config, &mut std::io::stdin().lock())).await
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    #[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
    parley::set_heap_probe(heap_stats);
    // A start that cannot happen (a data directory locked or unwritable, a
    // port taken, Redis unreachable) says why in one line, and exits 1.
    let server = match Server::bind(&config) {
        Ok(server) => server,
        Err(e) => {
            log::error!("parley cannot start: {e}");
            std::process::exit(1);
        }
    };
    server.run_until(stop_signal()).await
}
