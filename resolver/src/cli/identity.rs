//! `pnrp identity create|list|show|delete`: P-256 identities (design §6).
//!
//! With `--state-dir DIR` the commands work on the [`IdentityStore`] in
//! `DIR/identities/` directly, with no daemon. Without it they are requests to
//! the running `pnrpd` over `control.sock`; until the control protocol exists
//! that path reports the daemon as unreachable (exit 3) and points at
//! `--state-dir`.
//!
//! Labels are validated before anything else, so an invalid label is exit 2
//! whether or not a daemon runs, and never creates directories.
//!
//! Output:
//!
//! | command | plain | `--json` |
//! | --- | --- | --- |
//! | `create` | the 40-hex authority | `{label, authority, public_key, peer_name_prefix}` |
//! | `list` | `label authority` per line | `[{label, authority, public_key}, …]` |
//! | `show` | `key: value` lines | `{label, authority, public_key, peer_name_prefix}` |
//! | `delete` | `deleted identity LABEL` | `{label, deleted: true}` |

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::Output;
use super::{CliError, GlobalArgs, daemon};
use crate::identity::{IdentityInfo, IdentityStore, validate_label};

/// Appended to "daemon unreachable" errors of identity commands.
const DAEMON_HINT: &str = " (use --state-dir DIR to work on an identity store directly)";

/// `pnrp identity …`
#[derive(Debug, Args)]
#[command(after_help = super::EXIT_STATUS_HELP)]
pub struct IdentityArgs {
    /// Work on the identity store in DIR/identities/ directly instead of
    /// asking the running pnrpd (DIR is what pnrpd calls --state-dir)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        value_hint = clap::ValueHint::DirPath
    )]
    pub state_dir: Option<PathBuf>,

    /// The operation.
    #[command(subcommand)]
    pub command: IdentityCommand,
}

/// The `pnrp identity` subcommands.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create an identity with a fresh P-256 key and print its authority
    ///
    /// The key is written to LABEL.key with mode 0600. An existing label is
    /// refused and its key left untouched.
    Create {
        /// The label: 1 to 64 characters of A-Z a-z 0-9 . _ -, not starting
        /// with . or -
        #[arg(value_name = "LABEL")]
        label: String,
    },
    /// List identities, one `label authority` line each
    List,
    /// Show an identity's authority, public key and peer-name prefix
    Show {
        /// The label
        #[arg(value_name = "LABEL")]
        label: String,
    },
    /// Delete an identity's key (irreversible)
    Delete {
        /// The label
        #[arg(value_name = "LABEL")]
        label: String,
    },
}

impl IdentityCommand {
    fn label(&self) -> Option<&str> {
        match self {
            Self::Create { label } | Self::Show { label } | Self::Delete { label } => Some(label),
            Self::List => None,
        }
    }
}

/// One identity in `--json` output.
#[derive(Debug, Serialize)]
struct IdentityReport<'a> {
    label: &'a str,
    /// 40 lowercase hex digits.
    authority: String,
    /// SEC1 compressed public key, 66 lowercase hex digits.
    public_key: String,
    /// `<authority>.`: every secured peer name of this identity starts so.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_name_prefix: Option<String>,
}

impl<'a> IdentityReport<'a> {
    fn new(info: &'a IdentityInfo, with_prefix: bool) -> Self {
        let authority = info.authority.to_string();
        Self {
            label: &info.label,
            peer_name_prefix: with_prefix.then(|| format!("{authority}.")),
            authority,
            public_key: hex::encode(info.public_key.0),
        }
    }
}

/// `--json` output of `delete`.
#[derive(Debug, Serialize)]
struct DeleteReport<'a> {
    label: &'a str,
    deleted: bool,
}

/// Runs a `pnrp identity` command.
pub(crate) fn run(
    args: &IdentityArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), CliError> {
    if let Some(label) = args.command.label() {
        validate_label(label)?;
    }
    let Some(state_dir) = &args.state_dir else {
        return via_daemon(args, global, out);
    };
    // Only `create` makes directories, so a mistyped DIR is not created.
    let store = IdentityStore::at(state_dir);
    match &args.command {
        IdentityCommand::Create { label } => {
            let identity = store.create(label, &mut rand_core::OsRng)?;
            let info = identity.info();
            let report = IdentityReport::new(&info, true);
            out.emit(&report, |w| writeln!(w, "{}", report.authority))
        }
        IdentityCommand::List => {
            let infos = store.list()?;
            let reports: Vec<_> = infos
                .iter()
                .map(|i| IdentityReport::new(i, false))
                .collect();
            out.emit(&reports, |w| {
                reports
                    .iter()
                    .try_for_each(|r| writeln!(w, "{} {}", r.label, r.authority))
            })
        }
        IdentityCommand::Show { label } => {
            let info = store.load(label)?.info();
            let report = IdentityReport::new(&info, true);
            out.emit(&report, |w| {
                writeln!(w, "label:            {}", report.label)?;
                writeln!(w, "authority:        {}", report.authority)?;
                writeln!(w, "public key:       {}", report.public_key)?;
                writeln!(w, "peer name prefix: {}.", report.authority)
            })
        }
        IdentityCommand::Delete { label } => {
            store.delete(label)?;
            let report = DeleteReport {
                label,
                deleted: true,
            };
            out.emit(&report, |w| writeln!(w, "deleted identity {label}"))
        }
    }
}

/// The identity commands on the running daemon's store (no `--state-dir`).
fn via_daemon(args: &IdentityArgs, global: &GlobalArgs, out: &mut Output) -> Result<(), CliError> {
    use crate::ipc::{IdentityOut, Request, Response};
    let req = match &args.command {
        IdentityCommand::Create { label } => Request::IdentityCreate {
            label: label.clone(),
        },
        IdentityCommand::List => Request::IdentityList,
        IdentityCommand::Show { label } => Request::IdentityShow {
            label: label.clone(),
        },
        IdentityCommand::Delete { label } => Request::IdentityDelete {
            label: label.clone(),
        },
    };
    let r =
        daemon::request(global, daemon::Socket::Control, &req, 10_000).map_err(|e| match e {
            CliError::DaemonUnreachable { path, error, .. } => CliError::DaemonUnreachable {
                path,
                error,
                hint: DAEMON_HINT,
            },
            other => other,
        })?;
    let report = |i: &IdentityOut, prefix: bool| {
        let mut v = serde_json::json!({
            "label": i.label, "authority": i.authority, "public_key": i.public_key,
        });
        if prefix {
            v["peer_name_prefix"] = format!("{}.", i.authority).into();
        }
        v
    };
    match (&args.command, &r) {
        (IdentityCommand::Create { .. }, Response::Identity(i)) => {
            out.emit(&report(i, true), |w| writeln!(w, "{}", i.authority))
        }
        (IdentityCommand::Show { .. }, Response::Identity(i)) => out.emit(&report(i, true), |w| {
            writeln!(w, "label:            {}", i.label)?;
            writeln!(w, "authority:        {}", i.authority)?;
            writeln!(w, "public key:       {}", i.public_key)?;
            writeln!(w, "peer name prefix: {}.", i.authority)
        }),
        (IdentityCommand::List, Response::Identities { identities }) => {
            let v: Vec<_> = identities.iter().map(|i| report(i, false)).collect();
            out.emit(&v, |w| {
                identities
                    .iter()
                    .try_for_each(|i| writeln!(w, "{} {}", i.label, i.authority))
            })
        }
        (IdentityCommand::Delete { label }, Response::Done) => {
            let report = DeleteReport {
                label,
                deleted: true,
            };
            out.emit(&report, |w| writeln!(w, "deleted identity {label}"))
        }
        (_, other) => Err(CliError::unexpected(other)),
    }
}
