//! One cloud: the task that owns its [`Node`] and UDP socket (house style
//! §3.3), and the [`CloudHandle`] other tasks use to reach it over a bounded
//! channel with a oneshot reply per request.
//!
//! The loop `select!`s over a datagram, the node's next deadline, a request
//! and shutdown; after each it drains transmits, then events, then re-reads
//! the deadline, as the node's call contract asks. Sends use `try_send_to`:
//! a full socket buffer drops the datagram (counted), the node's
//! retransmission timer covers it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::crypto::P256Verifier;
use crate::engine::{
    CloudState, Command, Config, Event, Node, Now, RegisterError, Registration, RequestId,
    ResolveError, Resolved,
};
use crate::id::PnrpId;
use crate::name::PeerName;
use crate::time::{Instant, UnixTime};
use crate::wire::Endpoint;

use super::{DaemonError, ssdp};

/// Requests queued per cloud before callers wait.
const QUEUE: usize = 256;
/// Datagrams handled per wake-up before timers and requests get a turn.
const DATAGRAM_BUDGET: usize = 64;

/// A snapshot of a cloud for `pnrp clouds` / `status` / `cache`.
#[derive(Debug, Clone)]
pub(crate) struct CloudInfo {
    pub(crate) state: CloudState,
    pub(crate) cache: Vec<(PnrpId, Vec<SocketAddr>, bool)>,
    pub(crate) registrations: usize,
    pub(crate) estimated_size: Option<u64>,
    /// Route-entry endpoints worth remembering for the next start.
    pub(crate) bootstrap: Vec<SocketAddr>,
    /// The node's counters.
    pub(crate) counters: crate::ipc::CloudCounters,
}

type Reply<T> = oneshot::Sender<T>;

/// What other tasks ask of a cloud.
#[derive(Debug)]
pub(crate) enum CloudRequest {
    Register(Box<Registration>, Reply<Result<PnrpId, RegisterError>>),
    Unregister(PeerName, Reply<usize>),
    Resolve(
        PeerName,
        usize,
        Duration,
        Reply<Result<Vec<Resolved>, ResolveError>>,
    ),
    Info(Reply<CloudInfo>),
}

/// The handle of a running cloud.
#[derive(Debug, Clone)]
pub(crate) struct CloudHandle {
    pub(crate) name: String,
    pub(crate) listen: SocketAddr,
    pub(crate) local: Vec<Endpoint>,
    tx: mpsc::Sender<CloudRequest>,
}

impl CloudHandle {
    pub(crate) async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> CloudRequest) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    }
}

/// The daemon's clock: monotonic microseconds since start and wall time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Now {
        Now {
            mono: Instant(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)),
            wall: UnixTime::now_from_os(),
        }
    }

    fn deadline(&self, t: Instant) -> tokio::time::Instant {
        self.start + Duration::from_micros(t.0)
    }
}

/// Binds the cloud's UDP socket with socket2: dual-stack for IPv6
/// wildcard addresses, address reuse off, 1 MiB buffers.
fn bind(listen: SocketAddr) -> Result<UdpSocket, DaemonError> {
    let err = |source| DaemonError::Bind {
        what: "PNRP UDP socket",
        addr: listen.to_string(),
        source,
    };
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(err)?;
    if listen.is_ipv6() {
        socket.set_only_v6(false).map_err(err)?;
    }
    // Link-local clouds bind [fe80::x%if]:3540 beside Global_'s [::]:3540.
    socket.set_reuse_address(true).map_err(err)?;
    let _ = socket.set_recv_buffer_size(1 << 20);
    let _ = socket.set_send_buffer_size(1 << 20);
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&listen.into()).map_err(err)?;
    UdpSocket::from_std(socket.into()).map_err(err)
}

/// IPv4 peers of a dual-stack socket appear v4-mapped; the engine speaks
/// plain IPv4 for them. Scope ids are dropped: the engine's endpoints have
/// none, and a link-local cloud has exactly one link.
fn normalise(from: SocketAddr) -> SocketAddr {
    match from {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0)),
        },
        SocketAddr::V4(_) => from,
    }
}

fn is_link_local(ip: &std::net::Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// The reverse, for sending on the cloud's socket: v4-mapped on an IPv6
/// socket, the link's scope on link-local destinations.
fn for_socket(to: SocketAddr, v6_socket: bool, link: Option<u32>) -> SocketAddr {
    match to {
        SocketAddr::V4(v4) if v6_socket => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        SocketAddr::V6(v6) if v6.scope_id() == 0 && is_link_local(v6.ip()) => {
            SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, link.unwrap_or(0)))
        }
        _ => to,
    }
}

/// Opens a cloud: binds, builds the node, spawns its task. `link` is the
/// interface index of a link-local cloud, which also runs SSDP discovery.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per kind of cloud; a struct would only rename them"
)]
pub(crate) fn open(
    name: &str,
    listen: SocketAddr,
    local: Vec<Endpoint>,
    seeds: Vec<SocketAddr>,
    link: Option<u32>,
    max_registrations: usize,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> Result<CloudHandle, DaemonError> {
    let socket = bind(listen)?;
    let listen = socket.local_addr().unwrap_or(listen);
    let local: Vec<Endpoint> = local
        .into_iter()
        .map(|mut e| {
            e.port = listen.port();
            e
        })
        .collect();
    let config = Config {
        local: local.clone(),
        seeds,
        max_registrations,
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    getrandom_seed(&mut seed);
    let node = Node::new(config, Arc::new(P256Verifier), seed, clock.now());
    let (tx, rx) = mpsc::channel(QUEUE);
    info!(cloud = name, %listen, endpoints = local.len(), "cloud open");
    let ssdp = link.and_then(|i| match ssdp::bind(i) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(cloud = name, error = %e, "SSDP unavailable; this cloud needs seeds");
            None
        }
    });
    tokio::spawn(drive(
        name.to_owned(),
        node,
        socket,
        rx,
        clock,
        shutdown,
        Link { index: link, ssdp },
    ));
    Ok(CloudHandle {
        name: name.to_owned(),
        listen,
        local,
        tx,
    })
}

fn getrandom_seed(seed: &mut [u8; 32]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(seed);
}

/// The link of a link-local cloud and its SSDP socket.
struct Link {
    index: Option<u32>,
    ssdp: Option<UdpSocket>,
}

/// How often a link-local cloud that knows nobody multicasts an M-SEARCH.
const SSDP_INTERVAL: Duration = Duration::from_secs(5);

async fn recv_ssdp(s: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match s {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// Handles one SSDP datagram: answer searches while we hold a
/// registration, turn answers into seeds.
fn on_ssdp(name: &str, node: &mut Node, link: &Link, clock: &Clock, data: &[u8], from: SocketAddr) {
    match ssdp::parse(data) {
        ssdp::Ssdp::Search => {
            if node.local_ids().next().is_some()
                && let (Some(s), Some(ep)) = (&link.ssdp, node.local_endpoints().first())
            {
                let _ = s.try_send_to(&ssdp::response(ep.to_socket_addr()), from);
            }
        }
        ssdp::Ssdp::Answer(al) => {
            let seed = SocketAddr::V6(al);
            let ours = node
                .local_endpoints()
                .iter()
                .any(|e| e.to_socket_addr() == seed);
            if !ours {
                debug!(cloud = name, %seed, "SSDP answer");
                node.handle_command(clock.now(), Command::AddSeed(seed));
            }
        }
        ssdp::Ssdp::Other => {}
    }
}

enum Waiter {
    Register(Reply<Result<PnrpId, RegisterError>>),
    Unregister(Reply<usize>),
    Resolve(Reply<Result<Vec<Resolved>, ResolveError>>),
}

async fn drive(
    name: String,
    mut node: Node,
    socket: UdpSocket,
    mut rx: mpsc::Receiver<CloudRequest>,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
    link: Link,
) {
    let v6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
    let mut buf = vec![0u8; 65_536];
    let mut ssdp_buf = vec![0u8; ssdp::MAX_LEN];
    let mut next_search = tokio::time::Instant::now();
    let mut out = Vec::with_capacity(2048);
    let mut waiters: BTreeMap<RequestId, Waiter> = BTreeMap::new();
    let mut next_request = 0u64;
    // tokio's `try_send_to` fails with WouldBlock until the reactor has seen
    // the new socket writable once, which would drop the node's first
    // datagram (its SOLICIT to a seed) and delay joining by a retransmission.
    let _ = socket.writable().await;
    loop {
        // Drain outputs (call contract: transmits, events, then deadline).
        while let Some(to) = node.poll_transmit(&mut out) {
            if let Err(e) = socket.try_send_to(&out, for_socket(to, v6, link.index)) {
                debug!(cloud = %name, %to, error = %e, "send dropped");
            }
        }
        while let Some(event) = node.poll_event() {
            deliver(&name, &mut waiters, event);
        }
        let deadline = node.poll_timeout().map_or_else(
            || clock.deadline(Instant(u64::MAX / 2)),
            |t| clock.deadline(t),
        );
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                match r {
                    Ok((n, from)) => {
                        node.handle_datagram(clock.now(), normalise(from), &buf[..n]);
                        // A few more without waiting, bounded.
                        for _ in 1..DATAGRAM_BUDGET {
                            match socket.try_recv_from(&mut buf) {
                                Ok((n, from)) => node.handle_datagram(clock.now(), normalise(from), &buf[..n]),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) => debug!(cloud = %name, error = %e, "recv error"),
                }
            }
            () = tokio::time::sleep_until(deadline) => node.handle_timeout(clock.now()),
            r = recv_ssdp(link.ssdp.as_ref(), &mut ssdp_buf) => {
                if let Ok((n, from)) = r {
                    on_ssdp(&name, &mut node, &link, &clock, &ssdp_buf[..n], from);
                }
            }
            () = tokio::time::sleep_until(next_search), if link.ssdp.is_some() => {
                next_search = tokio::time::Instant::now() + SSDP_INTERVAL;
                if node.cache().is_empty()
                    && let (Some(s), Some(i)) = (&link.ssdp, link.index)
                {
                    let group = SocketAddr::V6(SocketAddrV6::new(ssdp::GROUP, ssdp::PORT, 0, i));
                    let _ = s.try_send_to(&ssdp::m_search(), group);
                }
            }
            req = rx.recv() => {
                let Some(req) = req else { break };
                next_request += 1;
                let id = RequestId(next_request);
                let now = clock.now();
                match req {
                    CloudRequest::Register(registration, reply) => {
                        waiters.insert(id, Waiter::Register(reply));
                        node.handle_command(now, Command::Register { request: id, registration });
                    }
                    CloudRequest::Unregister(name, reply) => {
                        waiters.insert(id, Waiter::Unregister(reply));
                        node.handle_command(now, Command::Unregister { request: id, name });
                    }
                    CloudRequest::Resolve(name, max, budget, reply) => {
                        waiters.insert(id, Waiter::Resolve(reply));
                        let deadline = now.mono.plus(budget);
                        node.handle_command(now, Command::Resolve { request: id, name, max_results: max, deadline });
                    }
                    CloudRequest::Info(reply) => {
                        let _ = reply.send(info(&node));
                    }
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    info!(cloud = %name, "cloud closed");
}

fn info(node: &Node) -> CloudInfo {
    let cache: Vec<(PnrpId, Vec<SocketAddr>, bool)> = node
        .cache()
        .iter()
        .map(|e| {
            (
                e.route.id,
                e.route.endpoints().map(Endpoint::to_socket_addr).collect(),
                e.cpa.is_some(),
            )
        })
        .collect();
    let mut bootstrap: Vec<SocketAddr> = cache
        .iter()
        .filter_map(|(_, eps, _)| eps.first().copied())
        .collect();
    bootstrap.truncate(10);
    CloudInfo {
        state: node.state(),
        cache,
        registrations: node.local_ids().count(),
        estimated_size: node.cache().estimate_cloud_size(),
        bootstrap,
        counters: {
            let s = node.stats();
            crate::ipc::CloudCounters {
                rx_datagrams: s.rx_datagrams,
                tx_datagrams: s.tx_datagrams,
                retransmits: s.retransmits,
                timeouts: s.timeouts,
                dropped_rate: s.dropped_rate,
                dropped_malformed: s.dropped_malformed,
                cpa_rejected: s.cpa_rejected,
                lookups_served: s.lookups_served,
                inquires_served: s.inquires_served,
            }
        },
    }
}

fn deliver(name: &str, waiters: &mut BTreeMap<RequestId, Waiter>, event: Event) {
    match event {
        Event::Registered { request, result } => {
            if let Some(Waiter::Register(tx)) = waiters.remove(&request) {
                let _ = tx.send(result);
            }
        }
        Event::Unregistered { request, removed } => {
            if let Some(Waiter::Unregister(tx)) = waiters.remove(&request) {
                let _ = tx.send(removed);
            }
        }
        Event::Resolved { request, result } => {
            if let Some(Waiter::Resolve(tx)) = waiters.remove(&request) {
                let _ = tx.send(result);
            }
        }
        Event::StateChanged(state) => info!(cloud = name, ?state, "cloud state"),
    }
}

/// Logs a warning once for an unusable cloud and goes on with the others.
pub(crate) fn warn_open_failed(name: &str, e: &DaemonError) {
    warn!(cloud = name, error = %e, "cloud not opened");
}
