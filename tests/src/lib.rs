//! Test support shared by the integration tests, the fuzz-seed writer and the
//! benchmarks: representative values of every PNRP message, built through the
//! public API, and the deterministic cloud simulator behind `pnrp-sim`
//! ([`sim`]).
#![warn(missing_docs)]

pub mod samples;
pub mod sim;

use std::path::PathBuf;

/// The committed corpus of a fuzz target (`fuzz/corpus/<target>`).
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}
