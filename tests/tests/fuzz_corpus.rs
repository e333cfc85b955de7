//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`) through the
//! same oracle the fuzz target runs, so stable CI covers what the fuzzers
//! found. Fails if a corpus is missing.

use std::fs;

use pnrp_tests::corpus_dir;

fn replay(target: &str, oracle: fn(&[u8])) {
    let dir = corpus_dir(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("corpus file");
        oracle(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
    println!("{target}: replayed {n} inputs");
}

#[test]
fn wire_message_corpus() {
    replay("wire_message", pnrp::fuzz::wire_message);
}

#[test]
fn authority_reassembly_corpus() {
    replay("authority_reassembly", pnrp::fuzz::authority_reassembly);
}

#[test]
fn cpa_verify_corpus() {
    replay("cpa_verify", pnrp::fuzz::cpa_verify);
}
