//! The stub's sockets.
//!
//! * **UDP**: one OS thread per listening address runs a blocking receive
//!   loop that takes up to 32 queued datagrams per system call and sends
//!   the answers with one more (`recvmmsg`/`sendmmsg`). A question about a
//!   name in the answer cache (or outside the zone, or malformed) is
//!   answered on that thread with no task switch — the path a busy
//!   resolver exercises.
//! * **Misses** become one lookup task per host name on the tokio runtime
//!   the stub was started with; later questions about the same name wait
//!   for that lookup instead of starting their own. At most
//!   [`StubConfig::max_lookups`] names are looked up at once; beyond that a
//!   question gets SERVFAIL at once rather than queueing behind the cloud.
//!   A lookup that outlives [`StubConfig::budget`] is answered SERVFAIL.
//! * **TCP** (RFC 7766): a tokio task per connection, at most
//!   [`StubConfig::max_tcp`] connections, pipelined queries answered in
//!   order, idle connections closed after 10 s.

use core::time::Duration;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{Semaphore, oneshot};

use crate::cache::{self, AnswerCache, Record};
use crate::dns::{self, Slow};
use crate::mmsg::RecvBatch;
use crate::wire::{self, Parsed, Query, Writer, rcode};
use crate::zone::{self, Target, ZoneParams};
use crate::{LookupError, PeerLookup};

/// Stub settings (pnrpd fills them from its flags and config file).
#[derive(Debug, Clone)]
pub struct StubConfig {
    /// Addresses to serve on, UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// TTL of positive answers and how long they are cached.
    pub ttl: Duration,
    /// TTL of NXDOMAIN/NODATA answers (the SOA minimum) and how long a
    /// miss is cached.
    pub negative_ttl: Duration,
    /// How long a cloud lookup may take before the answer is SERVFAIL.
    pub budget: Duration,
    /// Host names looked up at the same time, at most.
    pub max_lookups: usize,
    /// Open TCP connections, at most.
    pub max_tcp: usize,
    /// Host names the answer cache holds, at most.
    pub cache_names: usize,
    /// After answering, a UDP thread keeps polling its socket this long
    /// before it sleeps in the kernel again (zero: it always sleeps). A
    /// busy stub then takes the next question without a wake-up — on a
    /// virtual machine whose idle CPU halts, that wake-up is tens of µs and
    /// now and then milliseconds — at the cost of up to this much CPU per
    /// batch of questions; an idle stub spends nothing.
    pub poll: Duration,
}

impl Default for StubConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                SocketAddr::from(([127, 0, 0, 1], 5335)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 5335)),
            ],
            ttl: Duration::from_secs(10),
            negative_ttl: Duration::from_secs(10),
            budget: Duration::from_secs(2),
            max_lookups: 256,
            max_tcp: 128,
            cache_names: 1 << 20,
            poll: Duration::ZERO,
        }
    }
}

/// Counters, for `pnrp status` and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StubStats {
    /// Datagrams and TCP messages received.
    pub queries: u64,
    /// Questions answered from the cache.
    pub cache_hits: u64,
    /// Cloud lookups started.
    pub lookups: u64,
    /// SERVFAIL answers (timeouts, overload).
    pub servfail: u64,
    /// Names in the answer cache.
    pub cached_names: u64,
}

/// A running stub; dropping it does not stop it, [`Stub::shutdown`] does.
#[derive(Debug)]
pub struct Stub {
    shared: Arc<dyn Control>,
    threads: Vec<std::thread::JoinHandle<()>>,
    tcp: Vec<tokio::task::JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
}

/// Clears the stub's answer cache from elsewhere (the daemon does on
/// every registration change, so its own names are never answered stale).
#[derive(Debug, Clone)]
pub struct CacheHandle(Arc<dyn Control>);

impl CacheHandle {
    /// Forgets every cached answer.
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// What the handle needs from the generic shared state.
trait Control: Send + Sync + core::fmt::Debug {
    fn clear(&self);
    fn stats(&self) -> StubStats;
    fn stop(&self);
}

struct Shared<L> {
    lookup: L,
    params: ZoneParams,
    config: StubConfig,
    cache: Mutex<AnswerCache>,
    /// Host name → questions waiting for its lookup.
    inflight: Mutex<HashMap<String, Vec<Waiter>>>,
    /// Bumped by [`Stub::clear_cache`], so a lookup that started before a
    /// registration changed does not cache its now-stale answer.
    generation: AtomicU64,
    epoch: Instant,
    stop: AtomicBool,
    queries: AtomicU64,
    hits: AtomicU64,
    lookups: AtomicU64,
    servfail: AtomicU64,
}

impl<L> core::fmt::Debug for Shared<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

enum ReplyTo {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(oneshot::Sender<Vec<u8>>),
}

struct Waiter {
    reply: ReplyTo,
    /// The query in canonical shape (parses as [`Parsed::Query`]).
    query: Vec<u8>,
    limit: usize,
}

/// What one message needs.
enum Step {
    /// `out` holds the answer.
    Reply,
    /// Send nothing.
    Drop,
    /// The host is not cached: look it up, then answer `query`.
    Miss {
        host: String,
        query: Vec<u8>,
        limit: usize,
    },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1)
}

impl<L: PeerLookup + Send + Sync + 'static> Shared<L> {
    fn now(&self) -> u32 {
        u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Handles one message received over UDP (`udp`) or TCP.
    fn step(&self, msg: &[u8], out: &mut Vec<u8>, name: &mut String, udp: bool) -> Step {
        self.queries.fetch_add(1, Ordering::Relaxed);
        match wire::parse(msg) {
            Parsed::Query(q) => self.query(&q, msg, out, name, udp),
            Parsed::Reject(r) => {
                r.write(out);
                Step::Reply
            }
            Parsed::Ignore => Step::Drop,
            Parsed::Other => match dns::normalise(msg) {
                Slow::Rebuilt(v) => match wire::parse(&v) {
                    Parsed::Query(q) => self.query(&q, &v, out, name, udp),
                    Parsed::Reject(r) => {
                        r.write(out);
                        Step::Reply
                    }
                    Parsed::Other | Parsed::Ignore => {
                        let (id, flags) = header(msg);
                        let formerr = wire::Reject {
                            id,
                            flags,
                            rcode: rcode::FORMERR,
                            edns: None,
                        };
                        formerr.write(out);
                        Step::Reply
                    }
                },
                Slow::Reject(r) => {
                    r.write(out);
                    Step::Reply
                }
                Slow::Ignore => Step::Drop,
            },
        }
    }

    fn query(
        &self,
        q: &Query<'_>,
        raw: &[u8],
        out: &mut Vec<u8>,
        name: &mut String,
        udp: bool,
    ) -> Step {
        let limit = if udp {
            wire::udp_limit(q.edns)
        } else {
            usize::from(u16::MAX)
        };
        let target = if wire::dotted_lowercase(q.qname, name).is_some() {
            zone::classify(name, q.qclass)
        } else if in_zone_wire(q.qname) {
            // A label no host name can hold: the name cannot exist.
            let mut w = Writer::new(out, q, true, rcode::NXDOMAIN);
            let apex = u16::try_from(wire::HEADER_LEN + q.qname.len() - 10).unwrap_or(12);
            w.soa(
                wire::Section::Authority,
                apex,
                self.params.negative_ttl,
                self.params.serial,
                self.params.negative_ttl,
            );
            w.finish(q, limit);
            return Step::Reply;
        } else {
            Target::Refused
        };
        match target {
            Target::Refused | Target::Apex => {
                zone::answer(out, q, target, None, &self.params, limit);
                Step::Reply
            }
            Target::Host { host, .. } => {
                if matches!(q.qtype, wire::rtype::AXFR | wire::rtype::IXFR) {
                    let w = Writer::new(out, q, false, rcode::REFUSED);
                    w.finish(q, limit);
                    return Step::Reply;
                }
                let now = self.now();
                let cache = lock(&self.cache);
                if let Some(r) = cache.get(host, now) {
                    let mut params = self.params;
                    params.ttl = r.expires().saturating_sub(now).max(1).min(params.ttl);
                    zone::answer(out, q, target, Some(r), &params, limit);
                    drop(cache);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Step::Reply;
                }
                drop(cache);
                Step::Miss {
                    host: host.to_owned(),
                    query: raw.to_vec(),
                    limit,
                }
            }
        }
    }

    /// Queues `waiter` behind the lookup of `host`, starting it if needed;
    /// returns the waiter back when the stub is at its lookup limit.
    fn wait_for(self: &Arc<Self>, host: String, waiter: Waiter) -> Result<(), Waiter> {
        let mut inflight = lock(&self.inflight);
        if let Some(w) = inflight.get_mut(&host) {
            if w.len() >= 256 {
                return Err(waiter);
            }
            w.push(waiter);
            return Ok(());
        }
        if inflight.len() >= self.config.max_lookups {
            return Err(waiter);
        }
        inflight.insert(host.clone(), vec![waiter]);
        drop(inflight);
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let shared = self.clone();
        let generation = self.generation.load(Ordering::Acquire);
        tokio::spawn(async move {
            let budget = shared.config.budget;
            let result = tokio::time::timeout(
                budget + Duration::from_millis(100),
                shared.lookup.lookup(&host, budget),
            )
            .await
            .unwrap_or(Err(LookupError::Timeout));
            shared.finish_lookup(&host, generation, result);
        });
        Ok(())
    }

    fn finish_lookup(
        &self,
        host: &str,
        generation: u64,
        result: Result<crate::LookupAnswer, LookupError>,
    ) {
        let now = self.now();
        let record = match &result {
            Ok(a) => {
                let ttl = if a.ttl.is_zero() {
                    self.config.ttl
                } else {
                    a.ttl.min(self.config.ttl)
                };
                Some(cache::encode(host, now.saturating_add(secs(ttl)), Some(a)))
            }
            Err(LookupError::NotFound | LookupError::Invalid) => Some(cache::encode(
                host,
                now.saturating_add(self.params.negative_ttl),
                None,
            )),
            Err(_) => None,
        };
        let waiters = lock(&self.inflight).remove(host).unwrap_or_default();
        let mut out = Vec::with_capacity(512);
        let mut name = String::new();
        for w in waiters {
            let Parsed::Query(q) = wire::parse(&w.query) else {
                continue;
            };
            match &record {
                Some(b) => {
                    let _ = wire::dotted_lowercase(q.qname, &mut name);
                    let target = zone::classify(&name, q.qclass);
                    let mut params = self.params;
                    params.ttl = Record::view(b).expires().saturating_sub(now).max(1);
                    zone::answer(
                        &mut out,
                        &q,
                        target,
                        Some(Record::view(b)),
                        &params,
                        w.limit,
                    );
                }
                None => {
                    self.servfail.fetch_add(1, Ordering::Relaxed);
                    Writer::new(&mut out, &q, false, rcode::SERVFAIL).finish(&q, w.limit);
                }
            }
            match w.reply {
                ReplyTo::Udp(sock, peer) => {
                    let _ = sock.send_to(&out, peer);
                }
                ReplyTo::Tcp(tx) => {
                    let _ = tx.send(out.clone());
                }
            }
        }
        if let Some(b) = record
            && self.generation.load(Ordering::Acquire) == generation
        {
            lock(&self.cache).insert(b, now);
        }
    }

    fn servfail(&self, query: &[u8], out: &mut Vec<u8>, limit: usize) {
        self.servfail.fetch_add(1, Ordering::Relaxed);
        if let Parsed::Query(q) = wire::parse(query) {
            Writer::new(out, &q, false, rcode::SERVFAIL).finish(&q, limit);
        }
    }
}

impl<L: PeerLookup + Send + Sync + 'static> Control for Shared<L> {
    fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.cache).clear();
    }

    fn stats(&self) -> StubStats {
        StubStats {
            queries: self.queries.load(Ordering::Relaxed),
            cache_hits: self.hits.load(Ordering::Relaxed),
            lookups: self.lookups.load(Ordering::Relaxed),
            servfail: self.servfail.load(Ordering::Relaxed),
            cached_names: lock(&self.cache).len() as u64,
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn header(msg: &[u8]) -> (u16, u16) {
    let b = |i: usize| msg.get(i).copied().unwrap_or(0);
    (
        u16::from_be_bytes([b(0), b(1)]),
        u16::from_be_bytes([b(2), b(3)]),
    )
}

fn in_zone_wire(qname: &[u8]) -> bool {
    qname.len() >= 10 && qname[qname.len() - 10..].eq_ignore_ascii_case(b"\x04pnrp\x03net\x00")
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let _ = s.set_recv_buffer_size(1 << 21);
    let _ = s.set_send_buffer_size(1 << 21);
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

impl Stub {
    /// Binds every address of `config` (UDP and TCP) and starts serving;
    /// lookups run on `runtime`. Fails, binding nothing, if any address
    /// cannot be bound.
    pub fn start<L: PeerLookup + Send + Sync + 'static>(
        config: StubConfig,
        lookup: L,
        runtime: &tokio::runtime::Handle,
    ) -> io::Result<Self> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for &addr in &config.listen {
            let u = bind_udp(addr)?;
            // Port 0 picks a port: the TCP socket takes the same one.
            let bound = u.local_addr()?;
            tcp.push(bind_tcp(bound)?);
            udp.push(u);
        }
        let params = ZoneParams {
            ttl: secs(config.ttl),
            negative_ttl: secs(config.negative_ttl),
            serial: 1,
        };
        let shared = Arc::new(Shared {
            lookup,
            params,
            cache: Mutex::new(AnswerCache::new(config.cache_names)),
            inflight: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
            queries: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            servfail: AtomicU64::new(0),
            config,
        });
        let addrs = udp
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let mut threads = Vec::new();
        for (i, sock) in udp.into_iter().enumerate() {
            let shared = shared.clone();
            let rt = runtime.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("dns-udp-{i}"))
                    .spawn(move || udp_loop(&shared, Arc::new(sock), &rt))?,
            );
        }
        let limit = Arc::new(Semaphore::new(shared.config.max_tcp));
        let tcp = tcp
            .into_iter()
            .map(|l| {
                let shared = shared.clone();
                let limit = limit.clone();
                runtime.spawn(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(l) else {
                        return;
                    };
                    loop {
                        let Ok(permit) = limit.clone().acquire_owned().await else {
                            return;
                        };
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            tcp_conn(&shared, stream).await;
                            drop(permit);
                        });
                    }
                })
            })
            .collect();
        Ok(Self {
            shared,
            threads,
            tcp,
            addrs,
        })
    }

    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Forgets every cached answer; call when a registration changes.
    pub fn clear_cache(&self) {
        self.shared.clear();
    }

    /// A handle that clears the cache.
    pub fn cache_handle(&self) -> CacheHandle {
        CacheHandle(self.shared.clone())
    }

    /// Counters.
    pub fn stats(&self) -> StubStats {
        self.shared.stats()
    }

    /// Stops serving: UDP threads end within 200 ms, TCP tasks at once.
    pub fn shutdown(self) {
        self.shared.stop();
        for t in &self.tcp {
            t.abort();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn udp_loop<L: PeerLookup + Send + Sync + 'static>(
    shared: &Arc<Shared<L>>,
    sock: Arc<UdpSocket>,
    rt: &tokio::runtime::Handle,
) {
    use std::os::fd::AsRawFd as _;
    const BATCH: usize = 32;
    let fd = sock.as_raw_fd();
    let mut batch = RecvBatch::new(BATCH);
    let mut outs: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| Vec::with_capacity(wire::MAX_UDP_PAYLOAD.into()))
        .collect();
    let mut name = String::with_capacity(256);
    let poll = shared.config.poll;
    // Until when the socket is polled instead of waited on.
    let mut poll_until: Option<Instant> = None;
    let mut rate = RateWindow::new(Instant::now());
    while !shared.stop.load(Ordering::Acquire) {
        if let Some(t) = poll_until.take() {
            while !crate::mmsg::readable(fd) && Instant::now() < t {
                core::hint::spin_loop();
            }
        }
        let n = match batch.recv(fd) {
            Ok(n) => {
                let now = Instant::now();
                // Above POLL_MAX_RATE questions come back to back: taking
                // them in batches after a wake-up is cheaper than polling
                // for each, and a wake-up no longer adds to their latency.
                if !poll.is_zero() && rate.add(now, n) <= POLL_MAX_RATE {
                    poll_until = Some(now + poll);
                }
                n
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "dns: receive failed");
                continue;
            }
        };
        let mut reply = [false; BATCH];
        for (i, out) in outs.iter_mut().enumerate().take(n) {
            match shared.step(batch.datagram(i), out, &mut name, true) {
                Step::Reply => reply[i] = true,
                Step::Drop => {}
                Step::Miss { host, query, limit } => {
                    let Some(peer) = batch.source(i) else {
                        continue;
                    };
                    let waiter = Waiter {
                        reply: ReplyTo::Udp(sock.clone(), peer),
                        query,
                        limit,
                    };
                    let _guard = rt.enter();
                    if let Err(w) = shared.wait_for(host, waiter) {
                        shared.servfail(&w.query, out, limit);
                        reply[i] = true;
                    }
                }
            }
        }
        if reply[..n].contains(&true) {
            batch.send(fd, &mut outs[..n], &reply[..n]);
        }
    }
}

async fn tcp_conn<L: PeerLookup + Send + Sync + 'static>(
    shared: &Arc<Shared<L>>,
    mut stream: tokio::net::TcpStream,
) {
    const IDLE: Duration = Duration::from_secs(10);
    let mut out = Vec::with_capacity(512);
    let mut name = String::new();
    let mut msg = Vec::new();
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        msg.resize(usize::from(u16::from_be_bytes(len)), 0);
        match tokio::time::timeout(IDLE, stream.read_exact(&mut msg)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        match shared.step(&msg, &mut out, &mut name, false) {
            Step::Reply => {}
            Step::Drop => continue,
            Step::Miss { host, query, limit } => {
                let (tx, rx) = oneshot::channel();
                let waiter = Waiter {
                    reply: ReplyTo::Tcp(tx),
                    query,
                    limit,
                };
                match shared.wait_for(host, waiter) {
                    Ok(()) => match rx.await {
                        Ok(answer) => out = answer,
                        Err(_) => return,
                    },
                    Err(w) => shared.servfail(&w.query, &mut out, limit),
                }
            }
        }
        let Ok(len) = u16::try_from(out.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&out);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// Questions per second above which a UDP thread stops polling
/// ([`StubConfig::poll`]).
const POLL_MAX_RATE: u32 = 50_000;

/// The rate of questions on one socket, over the last whole millisecond.
struct RateWindow {
    start: Instant,
    count: u32,
    per_s: u32,
}

impl RateWindow {
    fn new(now: Instant) -> Self {
        Self {
            start: now,
            count: 0,
            per_s: 0,
        }
    }

    /// Counts `n` questions received at `now`; returns the current rate.
    fn add(&mut self, now: Instant, n: usize) -> u32 {
        self.count = self.count.saturating_add(n as u32);
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= Duration::from_millis(1) {
            self.per_s = (f64::from(self.count) / elapsed.as_secs_f64()) as u32;
            self.start = now;
            self.count = 0;
        }
        self.per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_window_reports_the_last_whole_millisecond() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(t0);
        // Nothing reported until a millisecond has passed.
        assert_eq!(w.add(t0 + Duration::from_micros(500), 10), 0);
        // 30 questions in 1 ms: 30,000 a second, under the polling limit.
        assert_eq!(w.add(t0 + Duration::from_millis(1), 20), 30_000);
        // 64 in the next 0.5 ms… reported once that window closes (1 ms).
        assert_eq!(w.add(t0 + Duration::from_micros(1_500), 64), 30_000);
        let r = w.add(t0 + Duration::from_millis(2), 36);
        assert_eq!(r, 100_000);
        assert!(r > POLL_MAX_RATE);
        // Quiet again: the next window brings the rate down.
        assert_eq!(w.add(t0 + Duration::from_millis(12), 1), 100);
    }
}
