//! What each IPC request does: the daemon's behaviour across its clouds.
//! Input is validated before any cloud is touched, so a refused request
//! changes nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::cloud::{self, Clock, CloudHandle, CloudRequest};
use super::config::DaemonConfig;
use super::state::{SavedRegistration, State};
use super::{DaemonError, netif};
use crate::cpa::{AppEndpoint, PROTO_TCP, PROTO_UDP, PayloadData};
use crate::crypto::P256Signer;
use crate::engine::{RegisterError, Registration, ResolveError, SharedSigner};
use crate::host;
use crate::identity::IdentityStore;
use crate::ipc::{
    CacheEntryOut, CloudOut, EndpointOut, EndpointSpec, ErrorKind, IdentityOut, PayloadSpec,
    RegistrationOut, Request, Response, ResultOut,
};
use crate::name::{Authority, PeerName};
use crate::wire::Endpoint;

static EMBEDDED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A process-unique number for embedded nodes' private directories.
pub(crate) fn next_embedded_id() -> u64 {
    EMBEDDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Seconds an NSS answer may be cached.
const HOST_TTL_S: u32 = 10;

/// Name prefix of link-local clouds (design §5).
const LINK_PREFIX: &str = "LinkLocal_";

/// Longest resolve budget a client may ask for (API limit, digest §4.8).
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The daemon's shared state.
pub(crate) struct Service {
    /// Open clouds; link-local ones come and go with interfaces.
    clouds: std::sync::RwLock<Vec<CloudHandle>>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
    link_local: bool,
    identities: IdentityStore,
    /// Signs unsecured names' CPAs (which prove nothing, MS-PNRP §5.1).
    node_signer: SharedSigner,
    state: Mutex<State>,
    started: tokio::time::Instant,
    /// Verified host answers for the NSS path, kept for their TTL
    /// ([`HOST_TTL_S`]); the most recently used [`HOST_CACHE_MAX`], cleared
    /// by any (un)registration.
    host_cache: Mutex<super::answers::HostAnswers>,
    /// The same answers, published for the NSS module to read without a
    /// round trip (`hosts.table`, [`super::hosttable`]), once serving.
    host_table: std::sync::OnceLock<super::hosttable::HostTable>,
    /// The DNS stub's answer cache, once the stub runs.
    dns_cache: std::sync::OnceLock<pnrp_nsp::CacheHandle>,
}

/// Most host answers kept.
const HOST_CACHE_MAX: core::num::NonZeroUsize = core::num::NonZeroUsize::new(4096).unwrap();

impl core::fmt::Debug for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Service")
            .field("clouds", &self.cloud_names())
            .finish_non_exhaustive()
    }
}

fn err(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error {
        kind,
        message: message.into(),
    }
}

fn proto_name(p: u16) -> String {
    match p {
        PROTO_TCP => "tcp".into(),
        PROTO_UDP => "udp".into(),
        0 => String::new(),
        n => n.to_string(),
    }
}

fn endpoint_out(e: &AppEndpoint) -> EndpointOut {
    EndpointOut {
        addr: e.socket_addr().ip().to_string(),
        port: e.port,
        proto: proto_name(e.protocol),
    }
}

/// Parses a peer name or a `*.pnrp.net` host name.
pub(crate) fn parse_name(text: &str) -> Result<PeerName, String> {
    host::parse_any(text).map_err(|e| format!("invalid name {text:?}: {e}"))
}

fn parse_endpoint(e: &EndpointSpec) -> Result<AppEndpoint, String> {
    let ip: IpAddr = e
        .addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| format!("--addr {:?}: not an IP address", e.addr))?;
    let proto = match e.proto.as_str() {
        "" => 0,
        "tcp" => PROTO_TCP,
        "udp" => PROTO_UDP,
        other => return Err(format!("--addr protocol {other:?}: must be tcp or udp")),
    };
    Ok(AppEndpoint::new(SocketAddr::new(ip, e.port), proto))
}

fn parse_payload(p: &PayloadSpec) -> Result<PayloadData, String> {
    let data = match p {
        PayloadSpec::Text(t) => PayloadData::Text(t.clone()),
        PayloadSpec::Hex(h) => {
            PayloadData::Binary(hex::decode(h).map_err(|_| "payload: not hexadecimal".to_string())?)
        }
    };
    // Text travels NUL-terminated within the same 4,096 bytes.
    let max = match data {
        PayloadData::Text(_) => crate::cpa::MAX_EXTENDED_PAYLOAD - 1,
        PayloadData::Binary(_) => crate::cpa::MAX_EXTENDED_PAYLOAD,
    };
    if data.is_empty() || data.len() > max {
        return Err(format!(
            "payload is {} bytes; it must be 1 to {max} bytes",
            data.len()
        ));
    }
    if let PayloadData::Text(t) = &data
        && t.contains('\0')
    {
        return Err("text payload must not contain NUL".into());
    }
    Ok(data)
}

impl Service {
    /// Opens the clouds and restores saved registrations.
    pub(crate) async fn start(
        config: &DaemonConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, DaemonError> {
        for dir in [&config.state_dir, &config.runtime_dir] {
            std::fs::create_dir_all(dir).map_err(|source| DaemonError::Dir {
                path: dir.clone(),
                source,
            })?;
        }
        let identities = IdentityStore::open(&config.state_dir)?;
        let state = State::load(&config.state_dir);
        let clock = Clock::new();
        let mut clouds = Vec::new();
        for spec in &config.clouds {
            let local = netif::local_endpoints(spec.listen)
                .into_iter()
                .map(Endpoint::from_socket_addr)
                .collect();
            let mut seeds = spec.seeds.clone();
            for s in state.bootstrap(&spec.name) {
                if !seeds.contains(&s) {
                    seeds.push(s);
                }
            }
            match cloud::open(
                &spec.name,
                spec.listen,
                local,
                seeds,
                None,
                config.max_registrations,
                clock,
                shutdown.clone(),
            ) {
                Ok(h) => clouds.push(h),
                Err(e) => cloud::warn_open_failed(&spec.name, &e),
            }
        }
        let mut rng = rand_core::OsRng;
        // Hedged (ring) nonces: ~10x faster signing of every INQUIRE answer (crypto.rs).
        let node_signer: SharedSigner = Arc::new(P256Signer::generate(&mut rng).hedged());
        let service = Self {
            clouds: std::sync::RwLock::new(clouds),
            clock,
            shutdown,
            link_local: config.link_local,
            identities,
            node_signer,
            state: Mutex::new(state),
            started: tokio::time::Instant::now(),
            host_cache: Mutex::new(super::answers::HostAnswers::new(HOST_CACHE_MAX)),
            host_table: std::sync::OnceLock::new(),
            dns_cache: std::sync::OnceLock::new(),
        };
        service.open_link_clouds();
        if service.clouds().is_empty() {
            return Err(DaemonError::Config("no cloud could be opened".into()));
        }
        service.restore().await;
        if let Some(mode) = &config.machine_name {
            service.publish_machine_name(mode).await;
        }
        Ok(service)
    }

    pub(crate) fn cloud_names(&self) -> Vec<String> {
        self.clouds().iter().map(|c| c.name.clone()).collect()
    }

    /// A snapshot of the open clouds.
    fn clouds(&self) -> Vec<CloudHandle> {
        self.clouds
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Opens `LinkLocal_<ifname>` for every interface with a link-local
    /// IPv6 address that has no cloud yet, and closes those whose interface
    /// or address went away (design §5). Returns the newly opened clouds.
    fn open_link_clouds(&self) -> Vec<String> {
        if !self.link_local {
            return Vec::new();
        }
        let links = netif::link_local_addresses();
        let mut clouds = self
            .clouds
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Close clouds whose link is gone (dropping the handle ends the task).
        clouds.retain(|c| {
            !c.name.starts_with(LINK_PREFIX)
                || links.iter().any(|l| {
                    c.name == format!("{LINK_PREFIX}{}", l.ifname) && c.listen.ip() == l.addr
                })
        });
        let mut opened = Vec::new();
        for l in links {
            let name = format!("{LINK_PREFIX}{}", l.ifname);
            if clouds.iter().any(|c| c.name == name) {
                continue;
            }
            let listen = SocketAddr::V6(std::net::SocketAddrV6::new(
                l.addr,
                crate::wire::DEFAULT_PORT,
                0,
                l.index,
            ));
            let local = vec![Endpoint::from_socket_addr(SocketAddr::new(
                IpAddr::V6(l.addr),
                crate::wire::DEFAULT_PORT,
            ))];
            match cloud::open(
                &name,
                listen,
                local,
                Vec::new(),
                Some(l.index),
                crate::engine::Config::default().max_registrations,
                self.clock,
                self.shutdown.clone(),
            ) {
                Ok(h) => {
                    clouds.push(h);
                    opened.push(name);
                }
                Err(e) => cloud::warn_open_failed(&name, &e),
            }
        }
        opened
    }

    /// Picks up interface and address changes; registrations made for all
    /// clouds are published in new link-local clouds too.
    pub(crate) async fn rescan_links(&self) {
        for name in self.open_link_clouds() {
            let saved: Vec<SavedRegistration> = self
                .lock_state()
                .registrations()
                .iter()
                .filter(|r| r.cloud.is_none())
                .cloned()
                .collect();
            for mut r in saved {
                r.cloud = Some(name.clone());
                let _ = self.register(&r).await;
            }
            info!(cloud = %name, "link-local cloud opened");
        }
    }

    fn signer_for(&self, name: &PeerName) -> Result<SharedSigner, Response> {
        match name.authority() {
            Authority::Unsecured => Ok(self.node_signer.clone()),
            Authority::Secured(a) => {
                let infos = self
                    .identities
                    .list()
                    .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
                let info = infos.iter().find(|i| i.authority == *a).ok_or_else(|| {
                    err(
                        ErrorKind::BadInput,
                        format!(
                            "no identity of this daemon holds authority {a}; a secured name \
                             needs the identity whose authority it carries (pnrp identity create)"
                        ),
                    )
                })?;
                let id = self
                    .identities
                    .load(&info.label)
                    .map_err(|e| err(ErrorKind::BadInput, e.to_string()))?;
                Ok(Arc::new(id.signer().clone().hedged()))
            }
        }
    }

    /// The parsed name and the clouds a request addresses.
    fn name_and_clouds(
        &self,
        text: &str,
        cloud: Option<&str>,
    ) -> Result<(PeerName, Vec<CloudHandle>), Response> {
        let name = parse_name(text).map_err(|m| err(ErrorKind::BadInput, m))?;
        Ok((name, self.clouds_for(cloud)?))
    }

    fn clouds_for(&self, cloud: Option<&str>) -> Result<Vec<CloudHandle>, Response> {
        match cloud {
            None => Ok(self.clouds()),
            Some(c) => {
                let found: Vec<_> = self.clouds().into_iter().filter(|h| h.name == c).collect();
                if found.is_empty() {
                    Err(err(
                        ErrorKind::NotFound,
                        format!("no cloud named {c:?} (see pnrp clouds)"),
                    ))
                } else {
                    Ok(found)
                }
            }
        }
    }

    /// Serves one request. `control` says whether it came on the control socket.
    pub(crate) async fn handle(&self, request: Request, control: bool) -> Response {
        if !control && !request.is_lookup() {
            return err(
                ErrorKind::Denied,
                "this request needs control.sock (owner or root); lookup.sock only resolves",
            );
        }
        match request {
            Request::Resolve {
                name,
                cloud,
                max,
                timeout_ms,
            } => self.resolve(&name, cloud.as_deref(), max, timeout_ms).await,
            Request::Register {
                name,
                endpoints,
                comment,
                payload,
                cloud,
            } => {
                let saved = SavedRegistration {
                    name,
                    endpoints,
                    comment,
                    payload,
                    cloud,
                };
                let r = self.register(&saved).await;
                self.clear_host_answers();
                self.clear_dns_cache();
                if matches!(r, Response::Registered { .. }) {
                    self.lock_state().add(saved);
                    self.save_state();
                }
                r
            }
            Request::Unregister { name, cloud } => {
                self.clear_host_answers();
                self.clear_dns_cache();
                let r = self.unregister(&name, cloud.as_deref()).await;
                // Again: a lookup may have cached the name meanwhile.
                self.clear_host_answers();
                self.clear_dns_cache();
                r
            }
            Request::Clouds => Response::Clouds {
                clouds: self.cloud_outs().await,
            },
            Request::Cache { cloud } => self.cache(cloud.as_deref()).await,
            Request::Registrations => self.registrations(),
            Request::Status => Response::Status {
                version: env!("CARGO_PKG_VERSION").into(),
                pid: std::process::id(),
                uptime_s: self.started.elapsed().as_secs(),
                clouds: self.cloud_outs().await,
            },
            Request::IdentityCreate { label } => {
                let mut rng = rand_core::OsRng;
                match self.identities.create(&label, &mut rng) {
                    Ok(id) => Response::Identity(identity_out(&id.info())),
                    Err(e) => identity_err(&e),
                }
            }
            Request::IdentityList => match self.identities.list() {
                Ok(list) => Response::Identities {
                    identities: list.iter().map(identity_out).collect(),
                },
                Err(e) => identity_err(&e),
            },
            Request::IdentityShow { label } => match self.identities.load(&label) {
                Ok(id) => Response::Identity(identity_out(&id.info())),
                Err(e) => identity_err(&e),
            },
            Request::IdentityDelete { label } => match self.identities.delete(&label) {
                Ok(()) => Response::Done,
                Err(e) => identity_err(&e),
            },
        }
    }

    /// Resolves `name` in `clouds` in parallel (digest §4.8).
    async fn resolve_in(
        clouds: Vec<CloudHandle>,
        name: &PeerName,
        max: usize,
        budget: Duration,
    ) -> Vec<(String, Result<Vec<crate::engine::Resolved>, ResolveError>)> {
        let tasks: Vec<_> = clouds
            .into_iter()
            .map(|c| {
                let name = name.clone();
                tokio::spawn(async move {
                    let r = c
                        .ask(|tx| CloudRequest::Resolve(name, max, budget, tx))
                        .await
                        .unwrap_or(Err(ResolveError::Busy));
                    (c.name, r)
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(tasks.len());
        for t in tasks {
            if let Ok(a) = t.await {
                answers.push(a);
            }
        }
        answers
    }

    /// The NSS module's binary host lookup (`docs/ipc.md`, kinds 3/4):
    /// the addresses of every registration found, filtered by family
    /// (v4-mapped endpoints count as IPv4).
    pub(crate) async fn lookup_host_frame(
        &self,
        req: &nss_pnrp::frame::HostRequest<'_>,
    ) -> Vec<u8> {
        let key = (req.name.to_ascii_lowercase(), req.family as u8);
        let now = tokio::time::Instant::now();
        let hit = self.lock_host_cache().get(&key, now);
        if let Some((expires, frame)) = hit {
            // The module asked, so the table lacked it (evicted): put it back.
            self.publish_host(req, &frame, expires - now);
            return frame;
        }
        let response = self.lookup_host(req).await;
        let frame = response.encode();
        if response.status == nss_pnrp::frame::Status::Found {
            let ttl = Duration::from_secs(u64::from(response.ttl_s));
            self.lock_host_cache().put(key, now + ttl, frame.clone());
            self.publish_host(req, &frame, ttl);
        }
        frame
    }

    /// Opens the host table in the runtime directory (once serving).
    pub(crate) fn open_host_table(&self, dir: &std::path::Path) {
        match super::hosttable::HostTable::create(dir) {
            Ok(t) => {
                let _ = self.host_table.set(t);
            }
            Err(e) => warn!(error = %e, "no host table; the NSS module will ask over lookup.sock"),
        }
    }

    /// Publishes a found answer (`frame`, as sent) in the host table.
    fn publish_host(&self, req: &nss_pnrp::frame::HostRequest<'_>, frame: &[u8], ttl: Duration) {
        let Some(table) = self.host_table.get() else {
            return;
        };
        if let Some(r) = frame.get(6..).and_then(nss_pnrp::frame::decode_response) {
            table.publish(req.name, req.family, &r.addrs, ttl);
        }
    }

    /// Forgets every host answer (a registration changed): the cache and
    /// the published table.
    fn clear_host_answers(&self) {
        self.lock_host_cache().clear();
        if let Some(t) = self.host_table.get() {
            t.clear();
        }
    }

    /// Lets (un)registrations clear the DNS stub's cache.
    pub(crate) fn attach_dns_cache(&self, handle: pnrp_nsp::CacheHandle) {
        let _ = self.dns_cache.set(handle);
    }

    fn clear_dns_cache(&self) {
        if let Some(h) = self.dns_cache.get() {
            h.clear();
        }
    }

    /// The DNS stub's lookup (design §6): every registration of `host` in
    /// every cloud, within `budget`.
    pub(crate) async fn lookup_dns(
        &self,
        host: &str,
        budget: Duration,
    ) -> Result<pnrp_nsp::LookupAnswer, pnrp_nsp::LookupError> {
        use pnrp_nsp::{LookupEndpoint, LookupError};
        let name = host::from_host(host).map_err(|_| LookupError::Invalid)?;
        let answers = Self::resolve_in(self.clouds(), &name, 10, budget).await;
        // TTL zero: the stub's own (`--dns-ttl`).
        let mut answer = pnrp_nsp::LookupAnswer::default();
        let mut found = false;
        let mut timed_out = false;
        let mut busy = false;
        for (_, r) in answers {
            match r {
                Ok(list) => {
                    for f in list {
                        found = true;
                        let c = f.cpa.content();
                        for e in &c.endpoints {
                            let sa = e.socket_addr();
                            answer.endpoints.push(LookupEndpoint {
                                addr: sa.ip(),
                                port: sa.port(),
                                protocol: e.protocol,
                            });
                        }
                        if let Some(comment) = c.comment.as_ref().filter(|t| !t.is_empty()) {
                            answer.comments.push(comment.clone());
                        }
                        if let Some(PayloadData::Text(t)) = f.payload.as_ref().map(|p| p.data()) {
                            answer.texts.push(t.clone());
                        }
                    }
                }
                Err(ResolveError::Timeout) => timed_out = true,
                Err(ResolveError::NotFound) => {}
                Err(_) => busy = true,
            }
        }
        if found {
            Ok(answer)
        } else if timed_out {
            Err(LookupError::Timeout)
        } else if busy {
            // A cloud could not take the resolution: not a proof of absence.
            Err(LookupError::Unavailable)
        } else {
            Err(LookupError::NotFound)
        }
    }

    fn lock_host_cache(&self) -> std::sync::MutexGuard<'_, super::answers::HostAnswers> {
        self.host_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn lookup_host(
        &self,
        req: &nss_pnrp::frame::HostRequest<'_>,
    ) -> nss_pnrp::frame::HostResponse {
        use nss_pnrp::frame::{Addr, Family, HostResponse, Status};
        let reply = |status| HostResponse {
            status,
            ttl_s: HOST_TTL_S,
            addrs: Vec::new(),
        };
        let Some(name) = core::str::from_utf8(req.name)
            .ok()
            .filter(|n| host::is_in_zone(n))
            .and_then(|n| host::from_host(n).ok())
        else {
            return reply(Status::BadName);
        };
        let budget = Duration::from_millis(u64::from(req.budget_ms).max(1));
        let answers = Self::resolve_in(self.clouds(), &name, 10, budget).await;
        let mut addrs: Vec<Addr> = Vec::new();
        let mut timed_out = false;
        for (_, r) in answers {
            match r {
                Ok(found) => {
                    for f in found {
                        for e in &f.cpa.content().endpoints {
                            let a = match e.socket_addr().ip() {
                                IpAddr::V4(v4) => Addr::V4(v4.octets()),
                                IpAddr::V6(v6) => Addr::V6(v6.octets()),
                            };
                            let wanted = matches!(
                                (req.family, a),
                                (Family::Any, _)
                                    | (Family::V4, Addr::V4(_))
                                    | (Family::V6, Addr::V6(_))
                            );
                            if wanted && !addrs.contains(&a) {
                                addrs.push(a);
                            }
                        }
                    }
                }
                Err(ResolveError::Timeout) => timed_out = true,
                Err(_) => {}
            }
        }
        if !addrs.is_empty() {
            HostResponse {
                status: Status::Found,
                ttl_s: HOST_TTL_S,
                addrs,
            }
        } else if timed_out {
            reply(Status::Timeout)
        } else {
            reply(Status::NotFound)
        }
    }

    async fn resolve(
        &self,
        text: &str,
        cloud: Option<&str>,
        max: usize,
        timeout_ms: u64,
    ) -> Response {
        let (name, clouds) = match self.name_and_clouds(text, cloud) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let max = max.clamp(1, 100);
        let budget = Duration::from_millis(timeout_ms).clamp(Duration::from_millis(1), MAX_TIMEOUT);
        let answers = Self::resolve_in(clouds, &name, max, budget).await;
        let mut results = Vec::new();
        let mut timed_out = false;
        for (cloud, r) in answers {
            match r {
                Ok(found) => {
                    for f in found {
                        let c = f.cpa.content();
                        let peer_name = match name.authority() {
                            Authority::Unsecured => {
                                format!("0.{}", display_classifier(&f.classifier, &name))
                            }
                            Authority::Secured(a) => {
                                format!("{a}.{}", display_classifier(&f.classifier, &name))
                            }
                        };
                        let (payload_len, payload_text) = match f.payload.as_ref().map(|p| p.data())
                        {
                            Some(PayloadData::Text(t)) => (t.len(), Some(t.clone())),
                            Some(PayloadData::Binary(b)) => (b.len(), None),
                            None => (0, None),
                        };
                        results.push(ResultOut {
                            host_name: host::to_host(&name).ok(),
                            peer_name,
                            cloud: cloud.clone(),
                            endpoints: c.endpoints.iter().map(endpoint_out).collect(),
                            comment: c.comment.clone(),
                            payload_len,
                            payload_text,
                            pnrp_id: f.id.to_string(),
                            hops: f.hops,
                            path: f.path.iter().map(ToString::to_string).collect(),
                            publisher: f.from.to_string(),
                        });
                    }
                }
                Err(ResolveError::Timeout) => timed_out = true,
                Err(_) => {}
            }
        }
        results.truncate(max);
        if !results.is_empty() {
            Response::Resolved { results }
        } else if timed_out {
            err(
                ErrorKind::Timeout,
                format!("{text}: no answer within {} ms", budget.as_millis()),
            )
        } else {
            err(ErrorKind::NotFound, format!("{text}: not found"))
        }
    }

    async fn register(&self, r: &SavedRegistration) -> Response {
        let name = match parse_name(&r.name) {
            Ok(n) => n,
            Err(m) => return err(ErrorKind::BadInput, m),
        };
        let mut endpoints = Vec::new();
        for e in &r.endpoints {
            match parse_endpoint(e) {
                Ok(x) => endpoints.push(x),
                Err(m) => return err(ErrorKind::BadInput, m),
            }
        }
        if endpoints.len() > crate::cpa::MAX_APP_ENDPOINTS {
            return err(
                ErrorKind::BadInput,
                format!(
                    "{} endpoints; at most {} per registration",
                    endpoints.len(),
                    crate::cpa::MAX_APP_ENDPOINTS
                ),
            );
        }
        if let Some(c) = &r.comment
            && (c.chars().count() > crate::cpa::MAX_COMMENT_CHARS
                || c.len() > crate::cpa::MAX_COMMENT_BYTES
                || c.is_empty())
        {
            return err(
                ErrorKind::BadInput,
                format!(
                    "comment must be 1 to {} characters ({} bytes of UTF-8)",
                    crate::cpa::MAX_COMMENT_CHARS,
                    crate::cpa::MAX_COMMENT_BYTES
                ),
            );
        }
        let payload = match r.payload.as_ref().map(parse_payload).transpose() {
            Ok(p) => p,
            Err(m) => return err(ErrorKind::BadInput, m),
        };
        let signer = match self.signer_for(&name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let clouds = match self.clouds_for(r.cloud.as_deref()) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        let mut ids = Vec::new();
        for c in clouds {
            let eps = if endpoints.is_empty() {
                // No --addr: the node's own addresses in that cloud.
                c.local
                    .iter()
                    .map(|e| AppEndpoint::new(e.to_socket_addr(), 0))
                    .map(|mut e| {
                        e.port = 0;
                        e
                    })
                    .collect()
            } else {
                endpoints.clone()
            };
            let registration = Box::new(Registration {
                name: name.clone(),
                signer: signer.clone(),
                endpoints: eps,
                comment: r.comment.clone(),
                payload: payload.clone(),
                prefix: None,
            });
            match c.ask(|tx| CloudRequest::Register(registration, tx)).await {
                Some(Ok(id)) => ids.push((c.name.clone(), id.to_string())),
                Some(Err(e)) => {
                    // Roll back the clouds already done: no partial state.
                    for done in self
                        .clouds()
                        .iter()
                        .filter(|h| ids.iter().any(|(n, _)| *n == h.name))
                    {
                        let _ = done
                            .ask(|tx| CloudRequest::Unregister(name.clone(), tx))
                            .await;
                    }
                    let kind = if matches!(e, RegisterError::Limit | RegisterError::KeyMismatch) {
                        ErrorKind::BadInput
                    } else {
                        ErrorKind::Internal
                    };
                    return err(kind, format!("cannot register {name} in {}: {e}", c.name));
                }
                None => {
                    return err(
                        ErrorKind::Internal,
                        format!("cloud {} is not running", c.name),
                    );
                }
            }
        }
        info!(%name, clouds = ids.len(), "registered");
        Response::Registered {
            peer_name: name.to_string(),
            host_name: host::to_host(&name).ok(),
            ids,
        }
    }

    async fn unregister(&self, text: &str, cloud: Option<&str>) -> Response {
        let (name, clouds) = match self.name_and_clouds(text, cloud) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let mut removed = 0;
        for c in clouds {
            removed += c
                .ask(|tx| CloudRequest::Unregister(name.clone(), tx))
                .await
                .unwrap_or(0);
        }
        self.lock_state().remove(&name, cloud);
        self.save_state();
        if removed == 0 {
            err(
                ErrorKind::NotFound,
                format!("{name} is not registered here"),
            )
        } else {
            info!(%name, removed, "unregistered");
            Response::Unregistered { removed }
        }
    }

    async fn cloud_outs(&self) -> Vec<CloudOut> {
        let mut out = Vec::new();
        for c in &self.clouds() {
            if let Some(info) = c.ask(CloudRequest::Info).await {
                out.push(CloudOut {
                    name: c.name.clone(),
                    state: format!("{:?}", info.state).to_lowercase(),
                    listen: c.listen.to_string(),
                    cache_entries: info.cache.len(),
                    registrations: info.registrations,
                    estimated_size: info.estimated_size,
                    counters: info.counters,
                });
            }
        }
        out
    }

    async fn cache(&self, cloud: Option<&str>) -> Response {
        let clouds = match self.clouds_for(cloud) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let mut entries = Vec::new();
        for c in clouds {
            if let Some(info) = c.ask(CloudRequest::Info).await {
                for (id, eps, has_cpa) in info.cache {
                    entries.push(CacheEntryOut {
                        cloud: c.name.clone(),
                        pnrp_id: id.to_string(),
                        endpoints: eps.iter().map(ToString::to_string).collect(),
                        has_cpa,
                    });
                }
            }
        }
        Response::Cache { entries }
    }

    fn registrations(&self) -> Response {
        let state = self.lock_state();
        let registrations = state
            .registrations()
            .iter()
            .flat_map(|r| {
                let clouds: Vec<String> = match &r.cloud {
                    Some(c) => vec![c.clone()],
                    None => self.cloud_names(),
                };
                clouds.into_iter().map(move |cloud| RegistrationOut {
                    peer_name: r.name.clone(),
                    cloud,
                    pnrp_id: String::new(),
                    endpoints: r
                        .endpoints
                        .iter()
                        .map(|e| EndpointOut {
                            addr: e.addr.clone(),
                            port: e.port,
                            proto: e.proto.clone(),
                        })
                        .collect(),
                    comment: r.comment.clone(),
                    payload_len: match &r.payload {
                        Some(PayloadSpec::Text(t)) => t.len(),
                        Some(PayloadSpec::Hex(h)) => h.len() / 2,
                        None => 0,
                    },
                })
            })
            .collect();
        Response::Registrations { registrations }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes registrations (and, best effort, bootstrap hints).
    pub(crate) fn save_state(&self) {
        if let Err(e) = self.lock_state().save() {
            warn!(error = %e, "cannot save state");
        }
    }

    /// Records bootstrap hints of every cloud (called periodically).
    pub(crate) async fn snapshot_caches(&self) {
        for c in &self.clouds() {
            if let Some(info) = c.ask(CloudRequest::Info).await {
                self.lock_state().set_bootstrap(&c.name, info.bootstrap);
            }
        }
        self.save_state();
    }

    async fn restore(&self) {
        let saved = self.lock_state().registrations().to_vec();
        for r in saved {
            match self.register(&r).await {
                Response::Registered { .. } => info!(name = %r.name, "registration restored"),
                other => warn!(name = %r.name, ?other, "registration not restored"),
            }
        }
    }

    /// Machine-name publication: `unsecured` publishes `0.<hostname>`; an
    /// identity label publishes `<authority>.<hostname>`.
    async fn publish_machine_name(&self, mode: &str) {
        let host = hostname();
        let name = if mode == "unsecured" {
            format!("0.{host}")
        } else {
            match self.identities.load(mode) {
                Ok(id) => format!("{}.{host}", id.authority()),
                Err(e) => {
                    warn!(error = %e, "machine_name: identity not usable");
                    return;
                }
            }
        };
        let r = SavedRegistration {
            name,
            endpoints: Vec::new(),
            comment: None,
            payload: None,
            cloud: None,
        };
        match self.register(&r).await {
            Response::Registered {
                peer_name,
                host_name,
                ..
            } => {
                info!(%peer_name, host_name = host_name.unwrap_or_default(), "machine name published");
            }
            other => warn!(?other, "machine name not published"),
        }
    }
}

/// The host name (first label), from the kernel.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| h.trim().split('.').next().map(str::to_owned))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn display_classifier(found: &str, asked: &PeerName) -> String {
    if found.is_empty() {
        asked.classifier().as_str().to_owned()
    } else {
        found.to_owned()
    }
}

fn identity_out(i: &crate::identity::IdentityInfo) -> IdentityOut {
    IdentityOut {
        label: i.label.clone(),
        authority: i.authority.to_string(),
        public_key: hex::encode(i.public_key.0),
    }
}

fn identity_err(e: &crate::identity::IdentityError) -> Response {
    use crate::identity::IdentityError as E;
    let kind = match e {
        E::NotFound { .. } => ErrorKind::NotFound,
        _ => ErrorKind::BadInput,
    };
    err(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_host_names_parse() {
        assert_eq!(
            parse_name("myhost.pnrp.net").unwrap().to_string(),
            "0.myhost"
        );
        assert_eq!(parse_name("0.MyHost").unwrap().to_string(), "0.MyHost");
        assert!(parse_name("bad name").is_err());
    }

    #[test]
    fn endpoints_parse_with_protocols() {
        let e = parse_endpoint(&EndpointSpec {
            addr: "10.1.2.3".into(),
            port: 80,
            proto: "tcp".into(),
        })
        .unwrap();
        assert_eq!(e.socket_addr(), "10.1.2.3:80".parse().unwrap());
        assert_eq!(e.protocol, PROTO_TCP);
        assert!(
            parse_endpoint(&EndpointSpec {
                addr: "x".into(),
                port: 0,
                proto: String::new()
            })
            .is_err()
        );
        assert!(
            parse_endpoint(&EndpointSpec {
                addr: "::1".into(),
                port: 0,
                proto: "sctp".into()
            })
            .is_err()
        );
    }

    #[test]
    fn payload_limits() {
        assert!(parse_payload(&PayloadSpec::Text("x".repeat(4095))).is_ok());
        assert!(parse_payload(&PayloadSpec::Text("x".repeat(4096))).is_err());
        assert!(parse_payload(&PayloadSpec::Hex("ab".repeat(4096))).is_ok());
        assert!(parse_payload(&PayloadSpec::Hex("zz".into())).is_err());
    }
}
