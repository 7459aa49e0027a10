//! Arbitrary text through the command parser and the nickname rules.
//! The invariants live in `src/lib.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::check_commands(data));
