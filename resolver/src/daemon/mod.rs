//! `pnrpd`, the runtime shell around the sans-IO engine (house style §3.3):
//! a current-thread tokio runtime, one task per cloud owning that cloud's
//! [`crate::engine::Node`] and UDP socket, the two Unix sockets of design §6,
//! persistent state, and clean shutdown on SIGTERM.
//!
//! * `config` — flags, environment and the optional TOML file;
//! * `cloud` — the driver task of one cloud and its handle;
//! * `server` — `lookup.sock` (anyone; resolve and status) and
//!   `control.sock` (owner or root, checked with SO_PEERCRED);
//! * `service` — what each IPC request does, across clouds;
//! * `hosttable` — the host answers published for the NSS module
//!   (`hosts.table`, read without a round trip);
//! * `dns` — the DNS stub for `*.pnrp.net` ([`pnrp_nsp`]) served in-process;
//! * `state` — registrations and bootstrap hints that survive `kill -9`;
//! * `netif` — the host's addresses.

mod answers;
mod cloud;
pub mod config;
mod dns;
mod hosttable;
mod netif;
mod server;
pub(crate) mod service;
mod ssdp;
mod state;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tracing::{info, warn};

pub use config::DaemonConfig;

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A directory could not be created or used.
    #[error("cannot use directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot bind {what} {addr}: {source}")]
    Bind {
        /// What kind of socket.
        what: &'static str,
        /// Where.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The identity store failed.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    let (shutdown_tx, shutdown) = watch::channel(false);
    let service = Arc::new(service::Service::start(&config, shutdown.clone()).await?);
    let listeners = server::bind(&config.runtime_dir)?;
    // After bind: a second daemon refused above must not replace our table.
    service.open_host_table(&config.runtime_dir);
    info!(
        runtime_dir = %config.runtime_dir.display(),
        state_dir = %config.state_dir.display(),
        clouds = service.cloud_names().join(","),
        "pnrpd ready"
    );
    let stub = if config.dns_enabled() {
        match dns::start(&config, &service) {
            Ok(stub) => Some(stub),
            Err(e) if config.dns_default => {
                warn!(error = %e, "no DNS stub (pass --dns-listen to choose other addresses)");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let server = tokio::spawn(server::serve(listeners, service.clone(), shutdown.clone()));
    // Interface and address changes: rescan every 10 s.
    let rescan = {
        let service = service.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = tick.tick() => service.rescan_links().await,
                    _ = shutdown.changed() => return,
                }
            }
        })
    };
    wait_for_signal().await;
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    service.save_state();
    let _ = server.await;
    let _ = rescan.await;
    if let Some(stub) = stub {
        stub.shutdown();
    }
    server::remove_sockets(&config.runtime_dir);
    hosttable::remove(&config.runtime_dir);
    Ok(())
}

/// Installs the tracing subscriber: `filter` is a level or an EnvFilter
/// directive (`RUST_LOG` wins when set); no colours unless stderr is a
/// terminal (journald).
pub fn init_logging(filter: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot watch SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
