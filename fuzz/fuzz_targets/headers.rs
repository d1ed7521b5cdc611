//! Fuzz target: `Host`, `Origin`, `X-Forwarded-For` and
//! `X-Forwarded-Host`, and the client's subnet key. The invariants are checked in
//! `parley::fuzzing::headers::headers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley::fuzzing::headers::headers(data));
