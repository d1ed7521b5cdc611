//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz), one per
//! parser that takes network input, each checking what must hold whatever
//! the bytes: no panic, and the invariants named on each function. They
//! live in the library, hidden from its documentation, so the parsers can
//! stay `pub(crate)`; the targets themselves are one line each. Nothing in
//! the server calls them, and they change no state of it.
//!
//! - [`frames`]: client frames as JSON, the polling bodies and query, and
//!   the rules of nicknames, room names and message text;
//! - [`wire`]: the WebSocket frame gate and codec, and the upgrade request;
//! - [`headers`]: `Origin`, `Host` and the forwarded headers.
//!
//! Each takes the fuzzer's bytes whole: where it needs a choice (a split
//! point, a limit), the first bytes make it.

pub mod frames;
pub mod headers;
pub mod wire;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every input of a target's committed corpus through its entry point:
    /// what the fuzzer once found worth keeping stays checked by the
    /// ordinary tests, on the stable toolchain, without libFuzzer.
    fn replay(target: &str, entry: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut inputs = 0;
        for file in std::fs::read_dir(&dir).expect("the corpus is committed") {
            let path = file.expect("a directory entry").path();
            entry(&std::fs::read(&path).expect("a corpus file is readable"));
            inputs += 1;
        }
        assert!(inputs > 0, "{} holds inputs", dir.display());
    }

    #[test]
    fn the_client_frame_corpus_passes() {
        replay("client_frame", super::frames::client_frame);
    }

    #[test]
    fn the_poll_corpus_passes() {
        replay("poll", super::frames::poll);
    }

    #[test]
    fn the_rules_corpus_passes() {
        replay("rules", super::frames::rules);
    }

    #[test]
    fn the_headers_corpus_passes() {
        replay("headers", super::headers::headers);
    }

    #[test]
    fn the_websocket_corpus_passes() {
        replay("websocket", super::wire::websocket);
    }

    #[test]
    fn the_upgrade_corpus_passes() {
        replay("upgrade", super::wire::upgrade);
    }
}
