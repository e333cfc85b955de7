//! The fuzz oracle of the stub (`fuzz/fuzz_targets/dns_query.rs`; the
//! committed corpus replays in this crate's tests).

use crate::cache::{self, Record};
use crate::dns::{self, Slow};
use crate::wire::{self, Parsed};
use crate::zone::{self, Target, ZoneParams};
use crate::{LookupAnswer, LookupEndpoint};

/// Takes `data` as a datagram to the stub. Nothing may panic; a query the
/// slow path rebuilds must come out in the fast path's shape; and every
/// answer the stub would send — with any cached record, for every size
/// limit — must decode with hickory-proto, carry the query's ID and stay
/// within the limit.
pub fn fuzz_oracle(data: &[u8]) {
    match wire::parse(data) {
        Parsed::Query(_) => answer_all(data, data),
        Parsed::Reject(r) => check_reject(r),
        Parsed::Ignore => {}
        Parsed::Other => match dns::normalise(data) {
            Slow::Rebuilt(v) => {
                assert!(
                    !matches!(wire::parse(&v), Parsed::Other | Parsed::Ignore),
                    "a rebuilt query is in canonical shape"
                );
                answer_all(&v, data);
            }
            Slow::Reject(r) => check_reject(r),
            Slow::Ignore => {}
        },
    }
}

fn check_reject(r: wire::Reject) {
    let mut out = Vec::new();
    r.write(&mut out);
    let m = hickory_proto::op::Message::from_vec(&out).expect("a reject decodes");
    assert_eq!(m.metadata.id, r.id);
}

/// An answer record built from the fuzz input, so records vary too.
fn answer_from(seed: &[u8]) -> LookupAnswer {
    let b = |i: usize| seed.get(i).copied().unwrap_or(0);
    let v4 = std::net::Ipv4Addr::new(b(0), b(1), b(2), b(3));
    let v6 = std::net::Ipv6Addr::from(u128::from_be_bytes(core::array::from_fn(|i| b(i + 4))));
    let n = usize::from(b(20) % 8) + 1;
    let endpoints = (0..n)
        .map(|k| LookupEndpoint {
            addr: if k % 2 == 0 { v4.into() } else { v6.into() },
            port: u16::from_be_bytes([b(21 + k), b(30 + k)]),
            protocol: [0, 6, 17][k % 3],
        })
        .collect();
    let text = String::from_utf8_lossy(seed.get(..seed.len().min(700)).unwrap_or_default());
    LookupAnswer {
        endpoints,
        comments: vec![text.chars().take(39).collect()],
        texts: vec![text.into_owned()],
        ttl: core::time::Duration::ZERO,
    }
}

fn answer_all(query: &[u8], seed: &[u8]) {
    let Parsed::Query(q) = wire::parse(query) else {
        return;
    };
    let mut name = String::new();
    let target = if wire::dotted_lowercase(q.qname, &mut name).is_some() {
        zone::classify(&name, q.qclass)
    } else {
        Target::Refused
    };
    let host = match target {
        Target::Host { host, .. } => host.to_owned(),
        _ => "x.pnrp.net".to_owned(),
    };
    let records = [
        cache::encode(&host, 100, Some(&answer_from(seed))),
        cache::encode(&host, 100, None),
    ];
    let params = ZoneParams {
        ttl: 10,
        negative_ttl: 10,
        serial: 1,
    };
    let mut out = Vec::new();
    for r in &records {
        for limit in [wire::PLAIN_UDP_LIMIT, wire::udp_limit(q.edns), 65_535] {
            zone::answer(&mut out, &q, target, Some(Record::view(r)), &params, limit);
            assert!(
                out.len() <= limit.max(q.head.len() + 11),
                "within the limit"
            );
            let m = hickory_proto::op::Message::from_vec(&out).expect("the answer decodes");
            assert_eq!(m.metadata.id, q.id);
            assert_eq!(m.queries.len(), 1);
            assert_eq!(
                usize::from(u16::from_be_bytes([out[6], out[7]])),
                m.answers.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dns_query");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/dns_query exists") {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            super::fuzz_oracle(&data);
            n += 1;
        }
        assert!(n > 0, "empty corpus");
    }
}
