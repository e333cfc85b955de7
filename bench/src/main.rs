//! `pnrp-bench codec|crypto|cloud`.
//!
//! `codec` and `crypto` — encode and decode per message, and CPA sign and
//! verify per second, each next to its floor measured in the same run:
//!
//! * codec: a `memcpy` of the same datagram into a reused buffer (the least
//!   work any decoder that keeps its input must do);
//! * crypto: a bare ECDSA P-256 sign / verify of the same bytes with the
//!   bare `ring` crate (the backend of `P256Verifier` and of hedged
//!   `P256Signer`s) and the bare `p256` crate (deterministic signing, and the
//!   backend before); our signer, verifier and CPA sign / decode+verify next
//!   to the bare operation they wrap (the rest is encoding, key
//!   decompression and the profile's checks).
//!
//! Usage: `cargo run --release -p pnrp-bench -- codec [--seconds S]`.
//!
//! `nss` — see `nss.rs`: `cargo build --release && sudo
//! target/release/pnrp-bench nss [--calls 20000]`.
//!
//! `dns` — see `dns.rs`: the DNS stub against unbound with the same names,
//! `cargo build --release && target/release/pnrp-bench dns [--names 100000]
//! [--per-publisher 1000] [--repeat 3] [--run 10] [--qps 20000]
//! [--poll-us 1000]` (needs dnsperf and unbound).
//!
//! `dns-probe` — one kernel-timestamped latency run against any DNS server
//! (`--server HOST:PORT [--names N] [--qps 20000] [--run 5]`, questions
//! `peer0..N.pnrp.net A`); see `dns::probe_latency`.
//!
//! `rtt` — the cloud benchmark's loopback round-trip probes alone
//! (`--rounds N` bursts): `pnrp-bench rtt`.
//!
//! `cloud` — see `cloud.rs`: `cargo build --release && cargo run --release
//! -p pnrp-bench -- cloud [--nodes 100] [--resolutions 1000] [--settle 20]
//! [--client-wait 2]`.
//! Prints one line per row: name, ns per operation, operations per second,
//! and the ratio to the floor.

mod cloud;
mod dns;
mod nss;

use std::hint::black_box;
use std::time::{Duration, Instant};

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use pnrp::cpa::{UnverifiedCpa, VerifyContext};
use pnrp::crypto::{P256Verifier, Signature, Signer as _, Verifier as _};
use pnrp::wire::{AuthorityBuffer, Packet};
use pnrp_tests::samples;

/// The `p` quantile (0–1, nearest rank) of ascending `sorted`; NaN if empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` repeatedly for about `budget`, returning ns per call.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up and size a batch to ~1 ms.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() > Duration::from_millis(1) || batch > 1 << 24 {
            break;
        }
        batch *= 2;
    }
    let mut best = f64::INFINITY;
    let start = Instant::now();
    while start.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        // Best batch: the least disturbed by the other core's work.
        best = best.min(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    best
}

fn row(name: &str, ns: f64, floor: f64) {
    println!(
        "{name:<34} {ns:>10.1} ns {:>12.0} /s   {:>6.2}x floor ({floor:.1} ns)",
        1e9 / ns,
        ns / floor
    );
}

fn codec(budget: Duration) {
    println!("# codec: per message (floor = memcpy of the same datagram)");
    let mut out = Vec::with_capacity(64 * 1024);
    for (name, p) in samples::packets() {
        let bytes = p.to_vec().expect("sample encodes");
        let floor = measure(budget, || {
            out.clear();
            out.extend_from_slice(black_box(&bytes));
            black_box(&out);
        });
        let enc = measure(budget, || {
            out.clear();
            black_box(&p).encode(&mut out).expect("encodes");
            black_box(&out);
        });
        let dec = measure(budget, || {
            black_box(Packet::decode(black_box(&bytes)).expect("decodes"));
        });
        row(&format!("encode {name} ({} B)", bytes.len()), enc, floor);
        row(&format!("decode {name} ({} B)", bytes.len()), dec, floor);
    }
    let buffer = samples::inquire_answer(Some(3000));
    let mut bytes = Vec::new();
    buffer.encode(&mut bytes).expect("encodes");
    let floor = measure(budget, || {
        out.clear();
        out.extend_from_slice(black_box(&bytes));
        black_box(&out);
    });
    let dec = measure(budget, || {
        black_box(AuthorityBuffer::decode(black_box(&bytes)).expect("decodes"));
    });
    row(
        &format!("decode AUTHORITY_BUFFER ({} B)", bytes.len()),
        dec,
        floor,
    );
}

/// Like [`row`], naming what the floor is.
fn row_vs(name: &str, ns: f64, floor: f64, floor_name: &str) {
    println!(
        "{name:<34} {ns:>10.1} ns {:>12.0} /s   {:>6.2}x {floor_name} ({floor:.1} ns)",
        1e9 / ns,
        ns / floor
    );
}

fn crypto(budget: Duration) {
    println!(
        "# CPA: sign and verify next to the bare ECDSA P-256 operation on the same bytes \
         (ring, the backend; p256, the pure-Rust crate used before and for deterministic signing)"
    );
    let signer = samples::signer();
    let hedged = signer.clone().hedged();
    assert!(hedged.is_hedged(), "ring accepts the key");
    let content = samples::cpa_content(
        &format!("{}.printer", signer.public_key().authority()),
        2,
        false,
    );
    let cpa = content.sign(&signer, samples::NOW).expect("signs");
    let bytes = cpa.as_bytes().to_vec();
    let signed = &bytes[..bytes.len() - 72];
    let sig_bytes = &bytes[bytes.len() - 64..];

    // The bare crates.
    let secret: [u8; 32] = signer.signing_key().to_bytes().into();
    let vk = *signer.signing_key().verifying_key();
    let uncompressed = vk.to_encoded_point(false);
    let rng = ring::rand::SystemRandom::new();
    let pair = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &secret,
        uncompressed.as_bytes(),
        &rng,
    )
    .expect("ring key");
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        uncompressed.as_bytes(),
    );
    let sig = p256::ecdsa::Signature::from_slice(sig_bytes).expect("sig");
    let our_sig = Signature(sig_bytes.try_into().expect("64 bytes"));
    let ring_sign = measure(budget, || {
        black_box(pair.sign(&rng, black_box(signed)).expect("signs"));
    });
    let ring_verify = measure(budget, || {
        ring_key
            .verify(black_box(signed), sig_bytes)
            .expect("verifies");
    });
    let p256_sign = measure(budget, || {
        let s: p256::ecdsa::Signature = signer.signing_key().sign(black_box(signed));
        black_box(s);
    });
    let p256_verify = measure(budget, || {
        vk.verify(black_box(signed), &sig).expect("verifies");
    });
    row_vs("bare ring sign", ring_sign, ring_sign, "ring sign");
    row_vs(
        "bare p256 sign (RFC 6979)",
        p256_sign,
        ring_sign,
        "ring sign",
    );
    row_vs("bare ring verify", ring_verify, ring_verify, "ring verify");
    row_vs("bare p256 verify", p256_verify, ring_verify, "ring verify");

    // Ours: signer, verifier, and the whole CPA operation.
    let ours_hedged = measure(budget, || {
        black_box(hedged.sign(black_box(signed)));
    });
    let ours_det = measure(budget, || {
        black_box(signer.sign(black_box(signed)));
    });
    let ours_verify = measure(budget, || {
        P256Verifier
            .verify(&signer.public_key(), black_box(signed), &our_sig)
            .expect("verifies");
    });
    row_vs("P256Signer, hedged", ours_hedged, ring_sign, "ring sign");
    row_vs(
        "P256Signer, deterministic",
        ours_det,
        p256_sign,
        "p256 sign",
    );
    row_vs("P256Verifier", ours_verify, ring_verify, "ring verify");
    let cpa_sign = measure(budget, || {
        black_box(content.sign(&hedged, samples::NOW).expect("signs"));
    });
    row_vs(
        &format!("CPA sign, hedged ({} B)", bytes.len()),
        cpa_sign,
        ring_sign,
        "ring sign",
    );
    let cpa_sign_det = measure(budget, || {
        black_box(content.sign(&signer, samples::NOW).expect("signs"));
    });
    row_vs(
        &format!("CPA sign, deterministic ({} B)", bytes.len()),
        cpa_sign_det,
        p256_sign,
        "p256 sign",
    );
    let ctx = VerifyContext::inquiry(samples::NOW, [0x5a; 16]);
    let cpa_verify = measure(budget, || {
        let c = UnverifiedCpa::decode(black_box(&bytes)).expect("decodes");
        black_box(c.verify(&P256Verifier, &ctx).expect("verifies"));
    });
    row_vs(
        &format!("CPA decode+verify ({} B)", bytes.len()),
        cpa_verify,
        ring_verify,
        "ring verify",
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Internal re-executions of `nss` inside a private mount namespace.
    match args.first().map(String::as_str) {
        Some("nss-inner") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
            nss::inner(std::path::Path::new(&args[1]), n);
            return;
        }
        Some("nss-down") => {
            nss::inner_down(std::path::Path::new(&args[1]));
            return;
        }
        _ => {}
    }
    let mut seconds = 0.3f64;
    let mut what = "all".to_string();
    let mut cloud = cloud::CloudOptions {
        nodes: 100,
        resolutions: 1000,
        settle_s: 20,
        client_wait_s: 2.0,
    };
    let mut calls = 20_000usize;
    let mut rounds = 1000usize;
    let mut dns = dns::DnsOptions::default();
    let mut server = "127.0.0.1:5335".to_owned();
    let mut it = args.iter();
    let number = |it: &mut std::slice::Iter<'_, String>, flag: &str| -> f64 {
        it.next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage(&format!("{flag} needs a number")))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = number(&mut it, "--seconds"),
            "--nodes" => cloud.nodes = number(&mut it, "--nodes") as usize,
            "--resolutions" => cloud.resolutions = number(&mut it, "--resolutions") as usize,
            "--settle" => cloud.settle_s = number(&mut it, "--settle") as u64,
            "--client-wait" => cloud.client_wait_s = number(&mut it, "--client-wait").max(0.0),
            "--calls" => calls = number(&mut it, "--calls") as usize,
            "--rounds" => rounds = number(&mut it, "--rounds") as usize,
            "--names" => dns.names = number(&mut it, "--names") as usize,
            "--per-publisher" => dns.per_publisher = number(&mut it, "--per-publisher") as usize,
            "--repeat" => dns.rounds = number(&mut it, "--repeat") as usize,
            "--run" => dns.seconds = number(&mut it, "--run") as u32,
            "--qps" => dns.latency_qps = number(&mut it, "--qps") as u32,
            "--poll-us" => dns.poll_us = number(&mut it, "--poll-us") as u32,
            "--server" => {
                server = it
                    .next()
                    .cloned()
                    .unwrap_or_else(|| usage("--server needs host:port"));
            }
            "codec" | "crypto" | "all" | "cloud" | "nss" | "rtt" | "dns" | "dns-probe" => {
                what = a.clone();
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if what == "nss" {
        nss::run(calls.max(100));
        return;
    }
    if what == "dns" {
        if dns.names == 0 || dns.names > 1 << 24 || dns.per_publisher == 0 || dns.rounds == 0 {
            usage("--names must be 1..=16777216, --per-publisher and --repeat at least 1");
        }
        dns::run(&dns);
        return;
    }
    if what == "dns-probe" {
        let (lat, lost) =
            dns::probe_latency(&server, dns.names, dns.latency_qps, f64::from(dns.seconds));
        println!("{server}: {}", dns::latency_summary(&lat, lost));
        return;
    }
    if what == "rtt" {
        cloud::rtt_only(rounds.max(1));
        return;
    }
    if what == "cloud" {
        if cloud.nodes < 2 || cloud.nodes > 1000 || cloud.resolutions == 0 {
            usage("--nodes must be 2..=1000 and --resolutions at least 1");
        }
        cloud::run(&cloud);
        return;
    }
    let budget = Duration::from_secs_f64(seconds);
    if what == "codec" || what == "all" {
        codec(budget);
    }
    if what == "crypto" || what == "all" {
        crypto(budget);
    }
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "pnrp-bench: {msg}\nusage: pnrp-bench [codec|crypto|all] [--seconds S]\n       pnrp-bench cloud [--nodes N] [--resolutions R] [--settle S] [--client-wait S]\n       pnrp-bench rtt [--rounds N]\n       pnrp-bench nss [--calls N]   (root)\n       pnrp-bench dns [--names N] [--per-publisher N] [--repeat R] [--run S] [--qps Q] [--poll-us U]\n       pnrp-bench dns-probe --server HOST:PORT [--names N] [--qps Q] [--run S]"
    );
    std::process::exit(2);
}
