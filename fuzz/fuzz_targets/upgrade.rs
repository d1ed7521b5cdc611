//! Fuzz target: an upgrade request's head, its checks, and the
//! frames sent right behind it. The invariants are checked in
//! `parley::fuzzing::wire::upgrade`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley::fuzzing::wire::upgrade(data));
