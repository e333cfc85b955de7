//! The Rust API: a client of a running `pnrpd` (blocking [`Client`] and
//! async [`AsyncClient`]), and an [`EmbeddedNode`] for programs that want a
//! PNRP node in-process without a daemon.
//!
//! Blocking, against the daemon's sockets:
//!
//! ```no_run
//! use pnrp::client::Client;
//!
//! let client = Client::new("/run/pnrp");
//! client.register("0.myhost", &["10.1.2.3:22/tcp"], Some("build box"))?;
//! for r in client.resolve("myhost.pnrp.net", 5, std::time::Duration::from_secs(2))? {
//!     println!("{} {:?}", r.peer_name, r.endpoints);
//! }
//! # Ok::<(), pnrp::client::ClientError>(())
//! ```
//!
//! Embedded, no daemon (this example runs as a doctest: a node alone in a
//! private cloud on loopback still resolves its own names):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! use pnrp::client::EmbeddedNode;
//!
//! let node = EmbeddedNode::start("demo", "127.0.0.1:0".parse()?, vec![]).await?;
//! node.register("0.doctest", &["10.9.8.7:80/tcp"], None).await?;
//! let found = node.resolve("doctest.pnrp.net", 1, std::time::Duration::from_secs(2)).await?;
//! assert_eq!(found[0].endpoints[0].addr, "10.9.8.7");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

use crate::cli::peer::parse_addr;
use crate::ipc::{
    self, ErrorKind, FrameError, KIND_REQUEST, KIND_RESPONSE, Request, Response, ResultOut,
};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The daemon's socket could not be reached.
    #[error("pnrpd is not reachable at {}", path.display())]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke or the daemon spoke nonsense.
    #[error("talking to pnrpd")]
    Protocol(#[from] FrameError),
    /// The daemon refused or failed the request.
    #[error("{message}")]
    Refused {
        /// Its class (not found, bad input, denied, timeout, internal).
        kind: ErrorKind,
        /// Its message.
        message: String,
    },
    /// An argument is invalid (the message names the rule).
    #[error("{0}")]
    Invalid(String),
    /// The embedded node could not start.
    #[error(transparent)]
    Start(#[from] crate::daemon::DaemonError),
}

impl ClientError {
    /// `true` when the name simply was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                kind: ErrorKind::NotFound,
                ..
            }
        )
    }
}

fn check(r: Response) -> Result<Response, ClientError> {
    match r {
        Response::Error { kind, message } => Err(ClientError::Refused { kind, message }),
        r => Ok(r),
    }
}

fn register_request(
    name: &str,
    endpoints: &[&str],
    comment: Option<&str>,
) -> Result<Request, ClientError> {
    let endpoints = endpoints
        .iter()
        .map(|e| parse_addr(e).map_err(|err| ClientError::Invalid(err.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Request::Register {
        name: name.to_owned(),
        endpoints,
        comment: comment.map(str::to_owned),
        payload: None,
        cloud: None,
    })
}

fn resolve_request(name: &str, max: usize, timeout: Duration) -> Request {
    Request::Resolve {
        name: name.to_owned(),
        cloud: None,
        max,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    }
}

fn results(r: Response) -> Result<Vec<ResultOut>, ClientError> {
    match check(r)? {
        Response::Resolved { results } => Ok(results),
        _ => Err(ClientError::Invalid("unexpected response".into())),
    }
}

/// A blocking client of a running `pnrpd`: one connection per call.
#[derive(Debug, Clone)]
pub struct Client {
    dir: PathBuf,
}

impl Client {
    /// A client of the daemon whose sockets are in `runtime_dir`.
    pub fn new(runtime_dir: impl AsRef<Path>) -> Self {
        Self {
            dir: runtime_dir.as_ref().to_path_buf(),
        }
    }

    fn call(&self, socket: &str, req: &Request, budget: Duration) -> Result<Response, ClientError> {
        let path = self.dir.join(socket);
        let mut s = UnixStream::connect(&path)
            .map_err(|source| ClientError::Unreachable { path, source })?;
        let _ = s.set_read_timeout(Some(budget + Duration::from_secs(2)));
        check(ipc::exchange(&mut s, req)?)
    }

    /// Resolves a peer name or `*.pnrp.net` host name (lookup socket).
    pub fn resolve(
        &self,
        name: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<ResultOut>, ClientError> {
        results(self.call("lookup.sock", &resolve_request(name, max, timeout), timeout)?)
    }

    /// Publishes `name` with endpoints `IP[:PORT][/tcp|/udp]` (control socket).
    pub fn register(
        &self,
        name: &str,
        endpoints: &[&str],
        comment: Option<&str>,
    ) -> Result<(), ClientError> {
        let req = register_request(name, endpoints, comment)?;
        self.call("control.sock", &req, Duration::from_secs(30))
            .map(drop)
    }

    /// Withdraws `name` (control socket).
    pub fn unregister(&self, name: &str) -> Result<(), ClientError> {
        let req = Request::Unregister {
            name: name.to_owned(),
            cloud: None,
        };
        self.call("control.sock", &req, Duration::from_secs(30))
            .map(drop)
    }
}

/// The async twin of [`Client`] (tokio).
#[derive(Debug, Clone)]
pub struct AsyncClient {
    dir: PathBuf,
}

impl AsyncClient {
    /// A client of the daemon whose sockets are in `runtime_dir`.
    pub fn new(runtime_dir: impl AsRef<Path>) -> Self {
        Self {
            dir: runtime_dir.as_ref().to_path_buf(),
        }
    }

    async fn call(&self, socket: &str, req: &Request) -> Result<Response, ClientError> {
        let path = self.dir.join(socket);
        let mut s = tokio::net::UnixStream::connect(&path)
            .await
            .map_err(|source| ClientError::Unreachable { path, source })?;
        s.write_all(&ipc::encode(KIND_REQUEST, req)?)
            .await
            .map_err(FrameError::Io)?;
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix).await.map_err(FrameError::Io)?;
        let mut frame = vec![0u8; ipc::response_frame_len(prefix)?];
        s.read_exact(&mut frame).await.map_err(FrameError::Io)?;
        check(ipc::decode(KIND_RESPONSE, &frame)?)
    }

    /// Resolves a peer name or `*.pnrp.net` host name.
    pub async fn resolve(
        &self,
        name: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<ResultOut>, ClientError> {
        results(
            self.call("lookup.sock", &resolve_request(name, max, timeout))
                .await?,
        )
    }

    /// Publishes `name` with endpoints `IP[:PORT][/tcp|/udp]`.
    pub async fn register(
        &self,
        name: &str,
        endpoints: &[&str],
        comment: Option<&str>,
    ) -> Result<(), ClientError> {
        let req = register_request(name, endpoints, comment)?;
        self.call("control.sock", &req).await.map(drop)
    }

    /// Withdraws `name`.
    pub async fn unregister(&self, name: &str) -> Result<(), ClientError> {
        let req = Request::Unregister {
            name: name.to_owned(),
            cloud: None,
        };
        self.call("control.sock", &req).await.map(drop)
    }
}

/// A PNRP node running inside this process (on the current tokio runtime):
/// one private cloud on `listen`, no daemon, no sockets besides UDP.
#[derive(Debug)]
pub struct EmbeddedNode {
    service: Arc<crate::daemon::service::Service>,
    _shutdown: watch::Sender<bool>,
    dir: PathBuf,
}

impl Drop for EmbeddedNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl EmbeddedNode {
    /// Joins (or starts) the private cloud `cloud` on `listen` with `seeds`.
    /// State (identities) lives in a private temporary directory.
    pub async fn start(
        cloud: &str,
        listen: SocketAddr,
        seeds: Vec<SocketAddr>,
    ) -> Result<Self, ClientError> {
        let dir = std::env::temp_dir().join(format!(
            "pnrp-embedded-{}-{}",
            std::process::id(),
            crate::daemon::service::next_embedded_id()
        ));
        let config = crate::daemon::DaemonConfig {
            state_dir: dir.join("state"),
            runtime_dir: dir.join("run"),
            clouds: vec![crate::daemon::config::CloudSpec {
                name: cloud.to_owned(),
                listen,
                seeds,
            }],
            link_local: false,
            dns_listen: Vec::new(),
            dns_ttl: Duration::from_secs(10),
            dns_poll: Duration::ZERO,
            dns_default: false,
            max_registrations: crate::engine::Config::default().max_registrations,
            log: "warn".into(),
            machine_name: None,
        };
        let (tx, rx) = watch::channel(false);
        let service = crate::daemon::service::Service::start(&config, rx).await?;
        Ok(Self {
            service: Arc::new(service),
            _shutdown: tx,
            dir,
        })
    }

    async fn call(&self, req: Request) -> Result<Response, ClientError> {
        check(self.service.handle(req, true).await)
    }

    /// Resolves a peer name or `*.pnrp.net` host name.
    pub async fn resolve(
        &self,
        name: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<ResultOut>, ClientError> {
        results(self.call(resolve_request(name, max, timeout)).await?)
    }

    /// Publishes `name` with endpoints `IP[:PORT][/tcp|/udp]`.
    pub async fn register(
        &self,
        name: &str,
        endpoints: &[&str],
        comment: Option<&str>,
    ) -> Result<(), ClientError> {
        self.call(register_request(name, endpoints, comment)?)
            .await
            .map(drop)
    }

    /// Withdraws `name`.
    pub async fn unregister(&self, name: &str) -> Result<(), ClientError> {
        self.call(Request::Unregister {
            name: name.to_owned(),
            cloud: None,
        })
        .await
        .map(drop)
    }
}
