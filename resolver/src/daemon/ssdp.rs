//! SSDP discovery for link-local clouds (MS-PNRP §3.1.4.2, §3.1.5.1,
//! §3.2.4.1; digest §3.3): a node looking for its cloud multicasts an
//! `M-SEARCH` for the PNRP search target on `[ff02::c]:1900`; nodes that
//! hold a registration answer by unicast with their PNRP endpoint in the
//! `AL` header (`[addr]:port`). The answer only yields a seed: everything
//! after it is the normal synchronisation conversation.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// The SSDP multicast group (link-local scope) and port.
pub(crate) const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);
/// The SSDP port.
pub(crate) const PORT: u16 = 1900;
/// The PNRP search target of link-local clouds (digest §3.3).
pub(crate) const SEARCH_TARGET: &str =
    "urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:LinkLocal";
/// Longest SSDP datagram handled.
pub(crate) const MAX_LEN: usize = 1500;

/// The `M-SEARCH` request.
pub(crate) fn m_search() -> Vec<u8> {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {SEARCH_TARGET}\r\n\r\n"
    )
    .into_bytes()
}

/// The answer advertising a PNRP endpoint.
pub(crate) fn response(al: SocketAddr) -> Vec<u8> {
    let al = match al {
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        SocketAddr::V4(v4) => format!("[{}]:{}", v4.ip().to_ipv6_mapped(), v4.port()),
    };
    format!(
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nST: {SEARCH_TARGET}\r\nUSN: uuid:pnrp::{SEARCH_TARGET}\r\nAL: {al}\r\n\r\n"
    )
    .into_bytes()
}

/// What an SSDP datagram is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ssdp {
    /// A search for the PNRP link-local target.
    Search,
    /// An answer naming a PNRP endpoint.
    Answer(SocketAddrV6),
    /// Anything else (other targets, malformed, other methods).
    Other,
}

fn header<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Classifies a datagram. Total: never panics on any bytes.
pub(crate) fn parse(datagram: &[u8]) -> Ssdp {
    let Ok(text) = core::str::from_utf8(datagram) else {
        return Ssdp::Other;
    };
    let lines: Vec<&str> = text.split("\r\n").collect();
    let Some(first) = lines.first() else {
        return Ssdp::Other;
    };
    if header(&lines[1..], "ST") != Some(SEARCH_TARGET) {
        return Ssdp::Other;
    }
    if first.starts_with("M-SEARCH ") {
        return Ssdp::Search;
    }
    if first.starts_with("HTTP/1.1 200") {
        // AL: [addr]:port (RFC 2732 host syntax).
        let Some(al) = header(&lines[1..], "AL") else {
            return Ssdp::Other;
        };
        let Some((host, port)) = al.strip_prefix('[').and_then(|r| r.split_once("]:")) else {
            return Ssdp::Other;
        };
        let (Ok(ip), Ok(port)) = (host.parse::<Ipv6Addr>(), port.parse::<u16>()) else {
            return Ssdp::Other;
        };
        if port < 1024 {
            return Ssdp::Other;
        }
        return Ssdp::Answer(SocketAddrV6::new(ip, port, 0, 0));
    }
    Ssdp::Other
}

/// A socket on `[::]:1900` that has joined the SSDP group on `ifindex`.
pub(crate) fn bind(ifindex: u32) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)).into())?;
    s.join_multicast_v6(&GROUP, ifindex)?;
    s.set_multicast_if_v6(ifindex)?;
    s.set_multicast_hops_v6(1)?;
    UdpSocket::from_std(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_and_answer_round_trip() {
        assert_eq!(parse(&m_search()), Ssdp::Search);
        let al: SocketAddr = "[fe80::1:2]:3540".parse().unwrap();
        assert_eq!(
            parse(&response(al)),
            Ssdp::Answer(SocketAddrV6::new("fe80::1:2".parse().unwrap(), 3540, 0, 0))
        );
    }

    #[test]
    fn other_targets_and_garbage_are_ignored() {
        let upnp = b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n";
        assert_eq!(parse(upnp), Ssdp::Other);
        assert_eq!(parse(b"\xff\xfe"), Ssdp::Other);
        assert_eq!(parse(b""), Ssdp::Other);
        let bad_al = format!("HTTP/1.1 200 OK\r\nST: {SEARCH_TARGET}\r\nAL: fe80::1:3540\r\n\r\n");
        assert_eq!(parse(bad_al.as_bytes()), Ssdp::Other);
        let low_port =
            format!("HTTP/1.1 200 OK\r\nST: {SEARCH_TARGET}\r\nAL: [fe80::1]:53\r\n\r\n");
        assert_eq!(parse(low_port.as_bytes()), Ssdp::Other);
    }
}
