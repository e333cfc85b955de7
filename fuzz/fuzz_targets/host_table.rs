#![no_main]
//! See `nss_pnrp::table::fuzz_oracle` for the oracle: any file contents as
//! the NSS module's host table.
libfuzzer_sys::fuzz_target!(|data: &[u8]| nss_pnrp::table::fuzz_oracle(data));
