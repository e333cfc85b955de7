#![no_main]
//! See `pnrp::fuzz::wire_message` for the oracle.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp::fuzz::wire_message(data));
