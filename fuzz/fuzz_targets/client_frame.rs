//! Fuzz target: a client's JSON frame, as a WebSocket text
//! message or a polling body carries it. The invariants are checked in
//! `parley::fuzzing::frames::client_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley::fuzzing::frames::client_frame(data));
