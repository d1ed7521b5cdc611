//! Fuzz target: the polling endpoints' bodies (send, open) and
//! the poll's query string. The invariants are checked in
//! `parley::fuzzing::frames::poll`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley::fuzzing::frames::poll(data));
