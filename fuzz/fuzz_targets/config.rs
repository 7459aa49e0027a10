//! Arbitrary config file text through the parser, and render/parse round trips.
//! The invariants live in `src/lib.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::check_config(data));
