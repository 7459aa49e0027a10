//! Lines encoded the way telnet clients send them come back out of the framer unchanged.
//! The invariants live in `src/lib.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| invariants::check_framing_round_trip(data));
