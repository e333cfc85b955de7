#![no_main]
//! See `pnrp_nsp::fuzz_oracle`: any datagram as a query to the DNS stub.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_nsp::fuzz_oracle(data));
