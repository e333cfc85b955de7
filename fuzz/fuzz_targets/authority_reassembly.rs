#![no_main]
//! See `pnrp::fuzz::authority_reassembly` for the oracle.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp::fuzz::authority_reassembly(data));
