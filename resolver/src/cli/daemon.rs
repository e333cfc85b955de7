//! Finding and reaching `pnrpd` (design §6): the runtime directory and its
//! `control.sock`.
//!
//! The runtime directory is `--runtime-dir DIR`, else `$PNRP_RUNTIME_DIR`
//! (both handled by clap in [`GlobalArgs`]), else `/run/pnrp` for root and
//! `$XDG_RUNTIME_DIR/pnrp` for other users.
//!
//! The daemon's control protocol does not exist yet, so [`control_unavailable`] only
//! checks that the socket accepts a connection: if it does not, the daemon is
//! unreachable (exit 3); if it does, this CLI still cannot talk to it and
//! says so (also exit 3). The daemon work replaces this with a real client.

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

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

/// Why the daemon cannot serve a control request, for commands that need
/// it. `hint` (" (…)") is appended to the error message.
///
/// Until the control protocol exists there is always a reason:
/// [`CliError::DaemonUnreachable`] if nothing accepts a connection on
/// `control.sock`, else [`CliError::DaemonProtocolUnsupported`].
pub(crate) fn control_unavailable(global: &GlobalArgs, hint: &'static str) -> CliError {
    let path = match runtime_dir(global, hint) {
        Ok(dir) => dir.join(CONTROL_SOCKET),
        Err(e) => return e,
    };
    match UnixStream::connect(&path) {
        Ok(_stream) => CliError::DaemonProtocolUnsupported { path, hint },
        Err(error) => CliError::DaemonUnreachable { path, error, hint },
    }
}
