//! The `pnrp.net` zone: which names the stub answers and how
//! (design §6).
//!
//! * a name outside `pnrp.net` is REFUSED (the stub is not a recursor);
//! * the apex has an SOA and an NS record and nothing else;
//! * `<host>.pnrp.net` has A and AAAA (every endpoint address of every
//!   registration found) and TXT (comments and text payloads);
//! * `_<service>._tcp.<host>.pnrp.net` and `_udp` have SRV records, one per
//!   registered port of that protocol (PNRP carries no service names, so
//!   any service label gets every registered port), with `<host>` as target;
//! * a host that is not registered anywhere is NXDOMAIN, a type it has no
//!   records of is NODATA; both carry the SOA, whose minimum is the
//!   negative TTL.

use crate::cache::Record;
use crate::wire::{self, Query, Section, Writer, class, rcode, rtype};

/// Wire suffix of every in-zone name.
const APEX_WIRE_LEN: usize = 10; // \x04pnrp\x03net\x00

/// What a question asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Outside `pnrp.net`, or not class IN.
    Refused,
    /// `pnrp.net` itself.
    Apex,
    /// A host (the lowercase dotted name to look up); `srv` when the
    /// question was `_service._tcp|_udp.<host>`, with its protocol
    /// number and the offset of `<host>` in the message.
    Host {
        /// The host name to look up.
        host: &'a str,
        /// SRV protocol and target offset.
        srv: Option<(u8, u16)>,
    },
}

/// Classifies a question whose name is `lower` (from
/// [`wire::dotted_lowercase`]) and class `qclass`.
pub fn classify(lower: &str, qclass: u16) -> Target<'_> {
    if !matches!(qclass, class::IN | class::ANY) {
        return Target::Refused;
    }
    if lower == "pnrp.net" {
        return Target::Apex;
    }
    if !lower.ends_with(".pnrp.net") {
        return Target::Refused;
    }
    let mut labels = lower.splitn(3, '.');
    if let (Some(service), Some(proto), Some(rest)) = (labels.next(), labels.next(), labels.next())
        && service.starts_with('_')
        && service.len() > 1
        && rest != "pnrp.net"
    {
        let p = match proto {
            "_tcp" => Some(6),
            "_udp" => Some(17),
            _ => None,
        };
        if let Some(p) = p {
            let offset = wire::HEADER_LEN + 1 + service.len() + 1 + proto.len();
            return Target::Host {
                host: rest,
                srv: Some((p, u16::try_from(offset).unwrap_or(0))),
            };
        }
    }
    Target::Host {
        host: lower,
        srv: None,
    }
}

/// Answer parameters.
#[derive(Debug, Clone, Copy)]
pub struct ZoneParams {
    /// TTL of positive answers, seconds.
    pub ttl: u32,
    /// SOA minimum and TTL: how long resolvers keep a negative answer.
    pub negative_ttl: u32,
    /// SOA serial.
    pub serial: u32,
}

fn apex_offset(q: &Query<'_>) -> u16 {
    u16::try_from(wire::HEADER_LEN + q.qname.len().saturating_sub(APEX_WIRE_LEN)).unwrap_or(12)
}

/// Writes the answer to `q` about `target`; `record` is the cache record
/// for a host (`None` for the apex). Returns the rcode written.
pub fn answer(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    target: Target<'_>,
    record: Option<Record<'_>>,
    params: &ZoneParams,
    limit: usize,
) -> u16 {
    let apex = apex_offset(q);
    let negative = |out: &mut Vec<u8>, code| {
        let mut w = Writer::new(out, q, true, code);
        w.soa(
            Section::Authority,
            apex,
            params.negative_ttl,
            params.serial,
            params.negative_ttl,
        );
        w.finish(q, limit);
        code
    };
    match target {
        Target::Refused => {
            let w = Writer::new(out, q, false, rcode::REFUSED);
            w.finish(q, limit);
            rcode::REFUSED
        }
        Target::Apex => {
            let mut w = Writer::new(out, q, true, rcode::NOERROR);
            let soa = matches!(q.qtype, rtype::SOA | rtype::ANY);
            let ns = matches!(q.qtype, rtype::NS | rtype::ANY);
            if !soa && !ns {
                return negative(out, rcode::NOERROR);
            }
            if soa {
                w.soa(
                    Section::Answer,
                    apex,
                    params.ttl,
                    params.serial,
                    params.negative_ttl,
                );
            }
            if ns {
                w.ns(apex);
            }
            w.finish(q, limit);
            rcode::NOERROR
        }
        Target::Host { srv, .. } => {
            let Some(r) = record.filter(Record::found) else {
                return negative(out, rcode::NXDOMAIN);
            };
            let mut w = Writer::new(out, q, true, rcode::NOERROR);
            let mut n = 0;
            let ttl = params.ttl;
            match srv {
                Some((proto, target)) => {
                    if matches!(q.qtype, rtype::SRV | rtype::ANY) {
                        for (port, _) in r.services().filter(|&(_, p)| p == proto) {
                            w.srv(ttl, port, target);
                            n += 1;
                        }
                    }
                }
                None => {
                    if matches!(q.qtype, rtype::A | rtype::ANY) {
                        for a in r.v4() {
                            w.address(ttl, a);
                            n += 1;
                        }
                    }
                    if matches!(q.qtype, rtype::AAAA | rtype::ANY) {
                        for a in r.v6() {
                            w.address(ttl, a);
                            n += 1;
                        }
                    }
                    if matches!(q.qtype, rtype::TXT | rtype::ANY) {
                        for t in r.texts() {
                            w.txt(ttl, t);
                            n += 1;
                        }
                    }
                }
            }
            if n == 0 {
                return negative(out, rcode::NOERROR);
            }
            w.finish(q, limit);
            rcode::NOERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(classify("example.com", 1), Target::Refused);
        assert_eq!(classify("xpnrp.net", 1), Target::Refused);
        assert_eq!(classify("host.pnrp.net", 3), Target::Refused);
        assert_eq!(classify("pnrp.net", 1), Target::Apex);
        assert_eq!(
            classify("host.pnrp.net", 1),
            Target::Host {
                host: "host.pnrp.net",
                srv: None
            }
        );
        assert_eq!(
            classify("_http._tcp.host.pnrp.net", 1),
            Target::Host {
                host: "host.pnrp.net",
                srv: Some((6, 12 + 6 + 5))
            }
        );
        assert_eq!(
            classify("_x._udp.pnrp.net", 1),
            Target::Host {
                host: "_x._udp.pnrp.net",
                srv: None
            }
        );
    }
}
