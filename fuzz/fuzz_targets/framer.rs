//! Raw socket bytes through the line framer, split into reads every which way.
//! The invariants live in `src/lib.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::check_framer(data));
