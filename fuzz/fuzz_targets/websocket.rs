//! Fuzz target: a client's WebSocket bytes through the frame
//! gate and actix-http's codec. The invariants are checked in
//! `parley::fuzzing::wire::websocket`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley::fuzzing::wire::websocket(data));
