//! Fuzz target: the rules of nicknames, room names and message
//! text, on any string. The invariants are checked in
//! `parley::fuzzing::frames::rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley::fuzzing::frames::rules(data));
