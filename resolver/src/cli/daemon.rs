//! Finding and reaching `pnrpd` (design §6): the runtime directory and its
//! `control.sock`.
//!
//! The runtime directory is `--runtime-dir DIR`, else `$PNRP_RUNTIME_DIR`
//! (both handled by clap in [`GlobalArgs`]), else `/run/pnrp` for root and
//! `$XDG_RUNTIME_DIR/pnrp` for other users.
//!
//! Requests go over the IPC protocol of [`crate::ipc`] (`docs/ipc.md`): one
//! connection per command, one request, one response.

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::ipc::{self, FrameError, Request, Response};

use super::{CliError, GlobalArgs};

/// The runtime directory of root's daemon.
pub(crate) const SYSTEM_RUNTIME_DIR: &str = "/run/pnrp";

/// The admin socket's file name in the runtime directory.
pub(crate) const CONTROL_SOCKET: &str = "control.sock";

/// `true` when running with effective uid 0. `/proc/self` is owned by the
/// process's effective uid, which avoids an FFI call for `geteuid`.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The runtime directory the command should use. `hint` is appended to the
/// error if there is none.
pub(crate) fn runtime_dir(global: &GlobalArgs, hint: &'static str) -> Result<PathBuf, CliError> {
    if let Some(dir) = &global.runtime_dir {
        return Ok(dir.clone());
    }
    if is_root() {
        return Ok(PathBuf::from(SYSTEM_RUNTIME_DIR));
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join("pnrp")),
        _ => Err(CliError::NoRuntimeDir { hint }),
    }
}

/// Which of the daemon's sockets a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Socket {
    /// `lookup.sock`: resolve and status, open to every user.
    Lookup,
    /// `control.sock`: everything else; owner or root.
    Control,
}

/// The file name of the lookup socket.
pub(crate) const LOOKUP_SOCKET: &str = "lookup.sock";

/// Sends one request and returns the daemon's answer; an error answer
/// becomes [`CliError::Daemon`]. `budget_ms` is how long the daemon may
/// work; the socket read allows two seconds more.
pub(crate) fn request(
    global: &GlobalArgs,
    socket: Socket,
    req: &Request,
    budget_ms: u64,
) -> Result<Response, CliError> {
    let dir = runtime_dir(global, "")?;
    let path = dir.join(match socket {
        Socket::Lookup => LOOKUP_SOCKET,
        Socket::Control => CONTROL_SOCKET,
    });
    let mut stream = UnixStream::connect(&path).map_err(|error| CliError::DaemonUnreachable {
        path: path.clone(),
        error,
        hint: "",
    })?;
    let limit = Duration::from_millis(budget_ms.saturating_add(2_000));
    let _ = stream.set_read_timeout(Some(limit));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match ipc::exchange(&mut stream, req) {
        Ok(Response::Error { kind, message }) => Err(CliError::Daemon { kind, message }),
        Ok(r) => Ok(r),
        Err(FrameError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(CliError::DaemonTimeout { path })
        }
        Err(error) => Err(CliError::DaemonIo { path, error }),
    }
}
