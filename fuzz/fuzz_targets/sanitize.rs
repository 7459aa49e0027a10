//! Arbitrary text through the sanitizer and into every line the server formats with it.
//! The invariants live in `src/lib.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::check_sanitize(data));
