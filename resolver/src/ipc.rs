//! The IPC protocol between `pnrpd` and its clients (the `pnrp` CLI, the
//! Rust client API, the NSS module), normative in `docs/ipc.md`.
//!
//! One connection carries any number of request/response exchanges, each a
//! frame:
//!
//! ```text
//! u32  length (big-endian): bytes that follow, 2 ..= MAX_FRAME for a
//!      request, 2 ..= MAX_RESPONSE_FRAME for a response
//! u8   version = 1
//! u8   kind: 1 request, 2 response
//! ...  body: one JSON document (UTF-8)
//! ```
//!
//! A frame with another version is answered with an error response naming
//! the versions spoken, then the connection is closed; a malformed frame
//! closes the connection. Requests and responses are [`Request`] and
//! [`Response`] below, serialised with serde as externally tagged JSON.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// Protocol version carried by every frame.
pub const VERSION: u8 = 1;
/// Largest request frame (the 4 KiB extended payload fits easily): what
/// the daemon reads from any local client.
pub const MAX_FRAME: usize = 64 * 1024;
/// Largest response frame: listings (`registrations`, `cache`) of a daemon
/// holding thousands of names are megabytes of JSON, and only the daemon,
/// which the client chose to trust, sends responses.
pub const MAX_RESPONSE_FRAME: usize = 16 * 1024 * 1024;
/// Frame kind byte of a request.
pub const KIND_REQUEST: u8 = 1;
/// Frame kind byte of a response.
pub const KIND_RESPONSE: u8 = 2;

/// An application endpoint as the CLI writes it: `IP[:PORT][/tcp|/udp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// Address text (IPv4 or IPv6).
    pub addr: String,
    /// Port, 0 for none.
    pub port: u16,
    /// `tcp`, `udp` or empty.
    pub proto: String,
}

/// An extended payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadSpec {
    /// UTF-8 text.
    Text(String),
    /// Binary data, hex-encoded.
    Hex(String),
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Resolve a peer name or `*.pnrp.net` host name (lookup socket too).
    Resolve {
        /// Peer name or host name.
        name: String,
        /// Only this cloud (default: all).
        cloud: Option<String>,
        /// Most results.
        max: usize,
        /// Budget in milliseconds.
        timeout_ms: u64,
    },
    /// Publish a name.
    Register {
        /// Peer name.
        name: String,
        /// Application endpoints (empty: the node's own addresses).
        endpoints: Vec<EndpointSpec>,
        /// Comment.
        comment: Option<String>,
        /// Extended payload.
        payload: Option<PayloadSpec>,
        /// Only this cloud (default: all).
        cloud: Option<String>,
    },
    /// Withdraw a name.
    Unregister {
        /// Peer name.
        name: String,
        /// Only this cloud (default: all).
        cloud: Option<String>,
    },
    /// List clouds.
    Clouds,
    /// Dump a cloud's cache.
    Cache {
        /// Only this cloud (default: all).
        cloud: Option<String>,
    },
    /// List this node's registrations.
    Registrations,
    /// Daemon status.
    Status,
    /// Create an identity in the daemon's store.
    IdentityCreate {
        /// Label.
        label: String,
    },
    /// List identities.
    IdentityList,
    /// Show one identity.
    IdentityShow {
        /// Label.
        label: String,
    },
    /// Delete an identity.
    IdentityDelete {
        /// Label.
        label: String,
    },
}

impl Request {
    /// Whether the request may be served on the world-accessible lookup
    /// socket (resolution and status only).
    pub fn is_lookup(&self) -> bool {
        matches!(self, Self::Resolve { .. } | Self::Status)
    }
}

/// One endpoint in a resolution result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointOut {
    /// Address text (IPv4 for v4-mapped).
    pub addr: String,
    /// Port.
    pub port: u16,
    /// `tcp`, `udp`, or the protocol number.
    pub proto: String,
}

/// One verified registration found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultOut {
    /// Peer name (publisher's spelling).
    pub peer_name: String,
    /// Host name.
    pub host_name: Option<String>,
    /// Cloud it was found in.
    pub cloud: String,
    /// Application endpoints.
    pub endpoints: Vec<EndpointOut>,
    /// Comment.
    pub comment: Option<String>,
    /// Extended payload length (0 if none).
    pub payload_len: usize,
    /// Text payload, if the payload is text.
    pub payload_text: Option<String>,
    /// PNRP ID (hex).
    pub pnrp_id: String,
    /// LOOKUP hops.
    pub hops: u32,
    /// The nodes consulted, in order (`[addr]:port`), starting with the
    /// resolving node.
    pub path: Vec<String>,
    /// The publisher's PNRP endpoint that answered.
    pub publisher: String,
}

/// A cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudOut {
    /// Name (`Global_`, `LinkLocal_eth0`, or a private name).
    pub name: String,
    /// State.
    pub state: String,
    /// PNRP socket.
    pub listen: String,
    /// Cached route entries.
    pub cache_entries: usize,
    /// Registrations in this cloud.
    pub registrations: usize,
    /// Estimated cloud size.
    pub estimated_size: Option<u64>,
    /// The node's counters since the cloud opened (absent from older
    /// daemons).
    #[serde(default)]
    pub counters: CloudCounters,
}

/// What a cloud's node has counted since it opened: traffic, losses, and
/// what it refused (design: remote misbehaviour is counted, not logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloudCounters {
    /// Datagrams received.
    pub rx_datagrams: u64,
    /// Datagrams sent.
    pub tx_datagrams: u64,
    /// Retransmissions (a request went unanswered for 1 s).
    pub retransmits: u64,
    /// Requests given up after their retries.
    pub timeouts: u64,
    /// Requests dropped by the per-source rate limit.
    pub dropped_rate: u64,
    /// Datagrams that did not decode.
    pub dropped_malformed: u64,
    /// CPAs that failed verification.
    pub cpa_rejected: u64,
    /// LOOKUPs answered.
    pub lookups_served: u64,
    /// INQUIREs answered.
    pub inquires_served: u64,
}

/// A cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntryOut {
    /// Cloud.
    pub cloud: String,
    /// PNRP ID (hex).
    pub pnrp_id: String,
    /// Endpoints `[addr]:port`.
    pub endpoints: Vec<String>,
    /// Whether a verified CPA is held.
    pub has_cpa: bool,
}

/// A registration of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationOut {
    /// Peer name.
    pub peer_name: String,
    /// Cloud.
    pub cloud: String,
    /// PNRP ID (hex).
    pub pnrp_id: String,
    /// Endpoints.
    pub endpoints: Vec<EndpointOut>,
    /// Comment.
    pub comment: Option<String>,
    /// Payload length.
    pub payload_len: usize,
}

/// An identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityOut {
    /// Label.
    pub label: String,
    /// 40-hex authority.
    pub authority: String,
    /// SEC1 compressed public key (hex).
    pub public_key: String,
}

/// Error classes; each maps to one CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not found (exit 1).
    NotFound,
    /// Bad input (exit 2).
    BadInput,
    /// Not allowed on this socket or for this caller (exit 2).
    Denied,
    /// Timed out (exit 4).
    Timeout,
    /// The daemon failed (exit 3).
    Internal,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Resolution results (non-empty).
    Resolved {
        /// The results.
        results: Vec<ResultOut>,
    },
    /// A registration is published.
    Registered {
        /// Peer name.
        peer_name: String,
        /// Host name, if it has one.
        host_name: Option<String>,
        /// `(cloud, PNRP ID)` per cloud.
        ids: Vec<(String, String)>,
    },
    /// Registrations withdrawn.
    Unregistered {
        /// How many.
        removed: usize,
    },
    /// Clouds.
    Clouds {
        /// The clouds.
        clouds: Vec<CloudOut>,
    },
    /// Cache entries.
    Cache {
        /// Entries.
        entries: Vec<CacheEntryOut>,
    },
    /// Registrations.
    Registrations {
        /// Registrations.
        registrations: Vec<RegistrationOut>,
    },
    /// Status.
    Status {
        /// Daemon version.
        version: String,
        /// Process id.
        pid: u32,
        /// Seconds since start.
        uptime_s: u64,
        /// Clouds.
        clouds: Vec<CloudOut>,
    },
    /// One identity.
    Identity(IdentityOut),
    /// Identities.
    Identities {
        /// Identities, sorted by label.
        identities: Vec<IdentityOut>,
    },
    /// Done, nothing to report.
    Done,
    /// A failure.
    Error {
        /// Class.
        kind: ErrorKind,
        /// Human-readable message naming the rule or cause.
        message: String,
    },
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The stream failed or closed.
    #[error("i/o")]
    Io(#[from] std::io::Error),
    /// Length outside 2 ..= MAX_FRAME.
    #[error("frame length {0} outside 2..={MAX_FRAME}")]
    Length(usize),
    /// A version this side does not speak.
    #[error("protocol version {theirs}, this side speaks {VERSION}")]
    Version {
        /// The version received.
        theirs: u8,
    },
    /// Wrong kind byte.
    #[error("unexpected frame kind {0}")]
    Kind(u8),
    /// The JSON body does not parse.
    #[error("bad frame body")]
    Body(#[from] serde_json::Error),
}

/// The largest frame of `kind`.
fn max_len(kind: u8) -> usize {
    if kind == KIND_RESPONSE {
        MAX_RESPONSE_FRAME
    } else {
        MAX_FRAME
    }
}

/// Encodes a frame.
pub fn encode<T: Serialize>(kind: u8, body: &T) -> Result<Vec<u8>, FrameError> {
    let json = serde_json::to_vec(body)?;
    let len = json.len() + 2;
    if len > max_len(kind) {
        return Err(FrameError::Length(len));
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&json);
    Ok(out)
}

/// Parses the 4-byte length prefix of a request.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    checked_len(prefix, MAX_FRAME)
}

/// Parses the 4-byte length prefix of a response.
pub fn response_frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    checked_len(prefix, MAX_RESPONSE_FRAME)
}

fn checked_len(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if !(2..=max).contains(&len) {
        return Err(FrameError::Length(len));
    }
    Ok(len)
}

/// Decodes a frame body (everything after the length prefix).
pub fn decode<T: for<'de> Deserialize<'de>>(kind: u8, frame: &[u8]) -> Result<T, FrameError> {
    let [version, k, body @ ..] = frame else {
        return Err(FrameError::Length(frame.len()));
    };
    if *version != VERSION {
        return Err(FrameError::Version { theirs: *version });
    }
    if *k != kind {
        return Err(FrameError::Kind(*k));
    }
    Ok(serde_json::from_slice(body)?)
}

/// Blocking exchange on a stream: writes `request`, reads one response.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    request: &Request,
) -> Result<Response, FrameError> {
    stream.write_all(&encode(KIND_REQUEST, request)?)?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix)?;
    let len = response_frame_len(prefix)?;
    let mut frame = vec![0u8; len];
    stream.read_exact(&mut frame)?;
    decode(KIND_RESPONSE, &frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let r = Request::Resolve {
            name: "myhost.pnrp.net".into(),
            cloud: None,
            max: 5,
            timeout_ms: 2000,
        };
        let f = encode(KIND_REQUEST, &r).unwrap();
        let len = frame_len(f[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, f.len() - 4);
        assert_eq!(decode::<Request>(KIND_REQUEST, &f[4..]).unwrap(), r);
    }

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "a test thread plays the daemon's end of the socket pair"
    )]
    fn responses_may_exceed_the_request_limit() {
        let big = Response::Error {
            kind: ErrorKind::Internal,
            message: "x".repeat(MAX_FRAME * 4),
        };
        assert!(matches!(
            encode(KIND_REQUEST, &big),
            Err(FrameError::Length(_))
        ));
        let f = encode(KIND_RESPONSE, &big).unwrap();
        let prefix: [u8; 4] = f[..4].try_into().unwrap();
        assert!(frame_len(prefix).is_err(), "too long for a request");
        assert_eq!(response_frame_len(prefix).unwrap(), f.len() - 4);
        // Through the blocking exchange, as `pnrp registrations` reads it.
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut prefix = [0u8; 4];
            b.read_exact(&mut prefix).unwrap();
            let mut req = vec![0u8; frame_len(prefix).unwrap()];
            b.read_exact(&mut req).unwrap();
            b.write_all(&f).unwrap();
        });
        assert_eq!(exchange(&mut a, &Request::Registrations).unwrap(), big);
        server.join().unwrap();
        assert!(
            response_frame_len(u32::try_from(MAX_RESPONSE_FRAME + 1).unwrap().to_be_bytes())
                .is_err()
        );
    }

    #[test]
    fn bad_frames_are_errors() {
        assert!(frame_len([0, 0, 0, 1]).is_err());
        assert!(frame_len([0, 1, 0, 1]).is_err());
        assert!(matches!(
            decode::<Request>(KIND_REQUEST, &[2, 1, b'{', b'}']),
            Err(FrameError::Version { theirs: 2 })
        ));
        assert!(matches!(
            decode::<Request>(KIND_REQUEST, &[1, 2, b'"', b'x', b'"']),
            Err(FrameError::Kind(2))
        ));
        assert!(matches!(
            decode::<Request>(KIND_REQUEST, &[1, 1, b'{']),
            Err(FrameError::Body(_))
        ));
        assert!(decode::<Request>(KIND_REQUEST, &[1]).is_err());
    }

    #[test]
    fn only_resolve_and_status_are_lookup_requests() {
        assert!(Request::Status.is_lookup());
        assert!(!Request::Registrations.is_lookup());
        assert!(
            !Request::Unregister {
                name: "0.x".into(),
                cloud: None
            }
            .is_lookup()
        );
    }
}
