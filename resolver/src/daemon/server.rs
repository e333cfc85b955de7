//! The two Unix sockets of design §6:
//!
//! * `lookup.sock`, mode 0666: anyone may resolve (and ask for status);
//! * `control.sock`, mode 0600: everything else, and only for callers whose
//!   SO_PEERCRED uid is the daemon's own or root.
//!
//! Connections are bounded ([`MAX_CLIENTS`] at once; more wait in the
//! kernel's backlog) and each frame must arrive within [`IDLE`].

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

use super::DaemonError;
use super::service::Service;
use crate::ipc::{self, ErrorKind, KIND_REQUEST, KIND_RESPONSE, Request, Response};

/// File name of the lookup socket.
pub(crate) const LOOKUP_SOCKET: &str = "lookup.sock";
/// File name of the control socket.
pub(crate) const CONTROL_SOCKET: &str = "control.sock";
/// Clients served at once.
const MAX_CLIENTS: usize = 64;
/// Longest wait for a frame on an open connection.
const IDLE: Duration = Duration::from_secs(30);

/// The bound listeners.
#[derive(Debug)]
pub(crate) struct Listeners {
    lookup: UnixListener,
    control: UnixListener,
}

fn bind_one(dir: &Path, file: &str, mode: u32) -> Result<UnixListener, DaemonError> {
    let path = dir.join(file);
    let bind_err = |source| DaemonError::Bind {
        what: "Unix socket",
        addr: path.display().to_string(),
        source,
    };
    if path.exists() {
        // A live daemon answers; a stale file from a crash does not.
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(bind_err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another pnrpd is serving this runtime directory",
            )));
        }
        let _ = std::fs::remove_file(&path);
    }
    let l = UnixListener::bind(&path).map_err(bind_err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(bind_err)?;
    Ok(l)
}

/// Binds both sockets in `dir`.
pub(crate) fn bind(dir: &Path) -> Result<Listeners, DaemonError> {
    Ok(Listeners {
        lookup: bind_one(dir, LOOKUP_SOCKET, 0o666)?,
        control: bind_one(dir, CONTROL_SOCKET, 0o600)?,
    })
}

/// Removes the socket files at shutdown.
pub(crate) fn remove_sockets(dir: &Path) {
    for f in [LOOKUP_SOCKET, CONTROL_SOCKET] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

fn own_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Accepts on both sockets until shutdown.
pub(crate) async fn serve(
    l: Listeners,
    service: Arc<Service>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CLIENTS));
    let uid = own_uid();
    let mut snapshot = tokio::time::interval(Duration::from_secs(60));
    loop {
        let (stream, control) = tokio::select! {
            r = l.lookup.accept() => match r { Ok((s, _)) => (s, false), Err(e) => { warn!(error = %e, "accept"); continue } },
            r = l.control.accept() => match r { Ok((s, _)) => (s, true), Err(e) => { warn!(error = %e, "accept"); continue } },
            _ = snapshot.tick() => { service.snapshot_caches().await; continue }
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        if control {
            let allowed = stream
                .peer_cred()
                .is_ok_and(|c| c.uid() == uid || c.uid() == 0);
            if !allowed {
                let mut stream = stream;
                let r = Response::Error {
                    kind: ErrorKind::Denied,
                    message: "control.sock serves only its owner and root".into(),
                };
                if let Ok(f) = ipc::encode(KIND_RESPONSE, &r) {
                    let _ = stream.write_all(&f).await;
                }
                continue;
            }
        }
        let service = service.clone();
        tokio::spawn(async move {
            connection(stream, service, control).await;
            drop(permit);
        });
    }
}

async fn connection(mut stream: UnixStream, service: Arc<Service>, control: bool) {
    loop {
        let mut prefix = [0u8; 4];
        match tokio::time::timeout(IDLE, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = match ipc::frame_len(prefix) {
            Ok(l) => l,
            Err(e) => {
                reply_error(&mut stream, &e.to_string()).await;
                return;
            }
        };
        let mut frame = vec![0u8; len];
        match tokio::time::timeout(IDLE, stream.read_exact(&mut frame)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        // The NSS module's binary host lookup (kinds 3/4).
        if frame.get(1) == Some(&nss_pnrp::frame::KIND_HOST_REQUEST) && frame[0] == ipc::VERSION {
            let Some(req) = nss_pnrp::frame::decode_request(&frame[2..]) else {
                return;
            };
            let response = service.lookup_host_frame(&req).await;
            if stream.write_all(&response).await.is_err() {
                return;
            }
            continue;
        }
        let request: Request = match ipc::decode(KIND_REQUEST, &frame) {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "bad IPC frame");
                reply_error(&mut stream, &e.to_string()).await;
                return;
            }
        };
        let response = service.handle(request, control).await;
        let bytes = match ipc::encode(KIND_RESPONSE, &response) {
            Ok(b) => b,
            Err(e) => {
                // Too large even for a response frame: say so rather than
                // closing the connection without a word.
                let r = Response::Error {
                    kind: ErrorKind::Internal,
                    message: format!("response not sent: {e}"),
                };
                let Ok(b) = ipc::encode(KIND_RESPONSE, &r) else {
                    return;
                };
                b
            }
        };
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn reply_error(stream: &mut UnixStream, message: &str) {
    let r = Response::Error {
        kind: ErrorKind::BadInput,
        message: format!("bad request frame: {message}"),
    };
    if let Ok(f) = ipc::encode(KIND_RESPONSE, &r) {
        let _ = stream.write_all(&f).await;
    }
}
