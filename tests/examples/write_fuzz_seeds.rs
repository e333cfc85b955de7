//! Writes the seed inputs of the three fuzz targets into `fuzz/corpus/`.
//! Run once after changing the wire format:
//! `cargo run -p pnrp-tests --example write_fuzz_seeds`.

use std::fs;

use pnrp::wire::{Message, MessageId, Packet, fragment};
use pnrp_tests::{corpus_dir, samples};

fn write(target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = corpus_dir(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(format!("seed-{name}")), bytes)
}

fn main() -> std::io::Result<()> {
    for (name, p) in samples::packets() {
        let bytes = p.to_vec().expect("sample encodes");
        write("wire_message", &name.to_lowercase(), &bytes)?;
    }
    let mut buf = Vec::new();
    samples::inquire_answer(Some(3000))
        .encode(&mut buf)
        .expect("sample buffer encodes");
    write("wire_message", "authority_buffer", &buf)?;
    // Reassembly input: [src][len u16 BE][datagram]..., fragments out of order.
    let mut seq = Vec::new();
    let frags = fragment(MessageId(5), &buf).expect("fragments");
    for f in frags.iter().rev() {
        let d = Packet {
            message_id: MessageId(9),
            message: Message::Authority(f.clone()),
        }
        .to_vec()
        .expect("fragment encodes");
        seq.push(0x10);
        seq.extend_from_slice(&u16::try_from(d.len()).expect("small").to_be_bytes());
        seq.extend_from_slice(&d);
    }
    write("authority_reassembly", "three_fragments", &seq)?;
    write("cpa_verify", "secured", samples::secured_cpa(2).as_bytes())?;
    write("cpa_verify", "revoke", samples::revoke_cpa().as_bytes())?;
    write(
        "cpa_verify",
        "payload",
        samples::extended_payload(100).as_bytes(),
    )?;
    Ok(())
}
