//! The binary host lookup of the IPC protocol (`docs/ipc.md`, frame kinds 3
//! and 4): what the NSS module sends on `lookup.sock` and what `pnrpd`
//! answers. Binary and fixed-layout so that the module needs no parser
//! beyond this file; shared with the daemon, which depends on this crate.
//!
//! ```text
//! request  (kind 3): family u8 (0 any, 4, 6) · budget_ms u16 BE · name_len u8 · name (1..=253 bytes)
//! response (kind 4): status u8 · ttl_s u32 BE · count u8 · count × (family u8 (4|6) · addr 16 bytes)
//! ```
//!
//! IPv4 addresses occupy the first 4 of their 16 bytes (the rest zero).
//! Both frames travel inside the common envelope: `u32 BE length ·
//! version 1 · kind`.

/// Protocol version in the envelope.
pub const VERSION: u8 = 1;
/// Envelope kind of a host lookup request.
pub const KIND_HOST_REQUEST: u8 = 3;
/// Envelope kind of a host lookup response.
pub const KIND_HOST_RESPONSE: u8 = 4;
/// Longest name.
pub const MAX_NAME: usize = 253;
/// Most addresses in one answer.
pub const MAX_ADDRS: usize = 64;

/// Address families of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Both (AF_UNSPEC).
    Any,
    /// IPv4 (AF_INET).
    V4,
    /// IPv6 (AF_INET6).
    V6,
}

impl Family {
    fn to_u8(self) -> u8 {
        match self {
            Self::Any => 0,
            Self::V4 => 4,
            Self::V6 => 6,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Any,
            4 => Self::V4,
            6 => Self::V6,
            _ => return None,
        })
    }
}

/// Outcome of a host lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Addresses follow.
    Found,
    /// The name is not registered (in the time given).
    NotFound,
    /// The daemon cannot resolve now.
    Unavailable,
    /// The budget ran out.
    Timeout,
    /// The name is not a valid `*.pnrp.net` host name.
    BadName,
}

impl Status {
    fn to_u8(self) -> u8 {
        match self {
            Self::Found => 0,
            Self::NotFound => 1,
            Self::Unavailable => 2,
            Self::Timeout => 3,
            Self::BadName => 4,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Found,
            1 => Self::NotFound,
            2 => Self::Unavailable,
            3 => Self::Timeout,
            4 => Self::BadName,
            _ => return None,
        })
    }
}

/// One address of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    /// IPv4.
    V4([u8; 4]),
    /// IPv6.
    V6([u8; 16]),
}

/// A host lookup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRequest<'a> {
    /// Wanted families.
    pub family: Family,
    /// The caller's remaining budget.
    pub budget_ms: u16,
    /// The host name as asked (any case).
    pub name: &'a [u8],
}

/// A host lookup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResponse {
    /// Outcome.
    pub status: Status,
    /// Seconds the answer may be cached.
    pub ttl_s: u32,
    /// Addresses (empty unless found).
    pub addrs: Vec<Addr>,
}

fn envelope(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + body.len());
    // Bodies are bounded far below u32::MAX.
    out.extend_from_slice(&((body.len() + 2) as u32).to_be_bytes());
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(body);
    out
}

impl HostRequest<'_> {
    /// The whole frame, envelope included; `None` if the name is too long
    /// or empty.
    pub fn encode(&self) -> Option<Vec<u8>> {
        if self.name.is_empty() || self.name.len() > MAX_NAME {
            return None;
        }
        let mut body = Vec::with_capacity(4 + self.name.len());
        body.push(self.family.to_u8());
        body.extend_from_slice(&self.budget_ms.to_be_bytes());
        body.push(self.name.len() as u8);
        body.extend_from_slice(self.name);
        Some(envelope(KIND_HOST_REQUEST, &body))
    }
}

/// Decodes a request body (after the envelope). Total.
pub fn decode_request(body: &[u8]) -> Option<HostRequest<'_>> {
    let [family, b0, b1, len, name @ ..] = body else {
        return None;
    };
    let family = Family::from_u8(*family)?;
    if usize::from(*len) != name.len() || name.is_empty() {
        return None;
    }
    Some(HostRequest {
        family,
        budget_ms: u16::from_be_bytes([*b0, *b1]),
        name,
    })
}

impl HostResponse {
    /// The whole frame, envelope included (at most [`MAX_ADDRS`] addresses).
    pub fn encode(&self) -> Vec<u8> {
        let addrs = &self.addrs[..self.addrs.len().min(MAX_ADDRS)];
        let mut body = Vec::with_capacity(6 + 17 * addrs.len());
        body.push(self.status.to_u8());
        body.extend_from_slice(&self.ttl_s.to_be_bytes());
        body.push(addrs.len() as u8);
        for a in addrs {
            let mut bytes = [0u8; 16];
            match a {
                Addr::V4(v4) => {
                    body.push(4);
                    bytes[..4].copy_from_slice(v4);
                }
                Addr::V6(v6) => {
                    body.push(6);
                    bytes = *v6;
                }
            }
            body.extend_from_slice(&bytes);
        }
        envelope(KIND_HOST_RESPONSE, &body)
    }
}

/// Decodes a response body (after the envelope). Total.
pub fn decode_response(body: &[u8]) -> Option<HostResponse> {
    let [status, t0, t1, t2, t3, count, rest @ ..] = body else {
        return None;
    };
    let status = Status::from_u8(*status)?;
    let count = usize::from(*count);
    if count > MAX_ADDRS || rest.len() != 17 * count {
        return None;
    }
    let mut addrs = Vec::with_capacity(count);
    for chunk in rest.chunks_exact(17) {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&chunk[1..]);
        addrs.push(match chunk[0] {
            4 => Addr::V4([bytes[0], bytes[1], bytes[2], bytes[3]]),
            6 => Addr::V6(bytes),
            _ => return None,
        });
    }
    Some(HostResponse {
        status,
        ttl_s: u32::from_be_bytes([*t0, *t1, *t2, *t3]),
        addrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let r = HostRequest {
            family: Family::V6,
            budget_ms: 1500,
            name: b"MyHost.pnrp.net",
        };
        let f = r.encode().unwrap();
        assert_eq!(&f[4..6], &[VERSION, KIND_HOST_REQUEST]);
        assert_eq!(decode_request(&f[6..]), Some(r));
        assert!(
            HostRequest {
                family: Family::Any,
                budget_ms: 0,
                name: b""
            }
            .encode()
            .is_none()
        );
        assert!(decode_request(&[0, 0, 0, 5, b'a']).is_none());
        assert!(decode_request(&[9, 0, 0, 1, b'a']).is_none());
    }

    #[test]
    fn response_round_trip() {
        let r = HostResponse {
            status: Status::Found,
            ttl_s: 10,
            addrs: vec![Addr::V4([10, 1, 2, 3]), Addr::V6([0x20; 16])],
        };
        let f = r.encode();
        assert_eq!(decode_response(&f[6..]), Some(r));
        assert!(decode_response(&[0, 0, 0, 0, 10, 1]).is_none());
        assert!(decode_response(&[7, 0, 0, 0, 10, 0]).is_none());
    }
}
