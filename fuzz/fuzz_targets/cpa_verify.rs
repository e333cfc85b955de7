#![no_main]
//! See `pnrp::fuzz::cpa_verify` for the oracle.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp::fuzz::cpa_verify(data));
