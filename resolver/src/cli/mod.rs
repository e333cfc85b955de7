//! The `pnrp` command line (design §6): clap definitions, dispatch, and the
//! one mapping from errors to process exit codes.
//!
//! Layout: this module holds the top-level [`Cli`], the global flags
//! ([`GlobalArgs`]), the error type [`CliError`] and [`Status`], the exit-code
//! vocabulary. Each command group has its own file ([`name`], [`identity`]);
//! a new group adds a file, a [`Command`] variant and, if it fails in a new
//! way, a [`CliError`] variant mapped in [`CliError::status`]. Output (plain
//! text or `--json`, errors included) goes through `output`; talking to
//! `pnrpd` through `daemon`.
//!
//! Conventions every command follows:
//!
//! * results go to stdout, plain by default and one JSON document with
//!   `--json`; errors go to stderr as `pnrp: error: <message>` and, with
//!   `--json`, also to stdout as `{"error": {"code", "kind", "message"}}`;
//! * input is validated before anything is touched, so bad input (exit 2)
//!   never leaves partial state;
//! * a closed stdout (`pnrp … | head`) is not an error.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::host::HostNameError;
use crate::identity::IdentityError;
use crate::name::NameError;

mod daemon;
pub mod identity;
pub mod name;
pub mod nss;
mod output;
pub mod peer;

use output::Output;

/// The exit-code table shown at the end of `pnrp --help`. It must list every
/// [`Status`] (a unit test checks it).
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  not found (for example an unknown identity label)
  2  bad input: the message names the rule broken (also usage errors, and
     files or directories that cannot be used)
  3  pnrpd is not reachable (or does not speak this pnrp's protocol)
  4  timeout";

/// Serverless peer-name resolution (PNRP) for Linux: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "pnrp",
    version,
    about,
    long_about = "Serverless peer-name resolution (PNRP) for Linux: the command line.\n\n\
        Peer names are `authority.classifier`: `0.MyPrinter` is unsecured, \
        `<40 hex digits>.Service` is secured by the identity whose public key hashes to \
        that authority. Each peer name has a host name under pnrp.net \
        (`0.MyPrinter` is myprinter.pnrp.net).",
    after_help = EXIT_STATUS_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Directory holding pnrpd's sockets (lookup.sock, control.sock)
    /// [default: /run/pnrp as root, else $XDG_RUNTIME_DIR/pnrp]
    #[arg(
        long,
        global = true,
        env = "PNRP_RUNTIME_DIR",
        hide_env_values = true,
        value_name = "DIR",
        value_hint = clap::ValueHint::DirPath
    )]
    pub runtime_dir: Option<PathBuf>,

    /// Print machine-readable JSON on stdout (errors too, as
    /// {"error": {"code", "kind", "message"}})
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert between peer names and *.pnrp.net host names (offline)
    Name(name::NameArgs),
    /// Manage P-256 identities, the keys behind secured peer names
    Identity(identity::IdentityArgs),
    /// Publish a peer name with endpoints
    Register(peer::RegisterArgs),
    /// Withdraw a published peer name (revoke CPAs are flooded)
    Unregister(peer::UnregisterArgs),
    /// Resolve a peer name or *.pnrp.net host name
    Resolve(peer::ResolveArgs),
    /// Show the hop-by-hop path of one resolution
    Trace(peer::ResolveArgs),
    /// List the clouds this node is in
    Clouds,
    /// Show the route-entry cache
    Cache(peer::CacheArgs),
    /// List this node's registrations
    Registrations,
    /// Show the daemon's status
    Status,
    /// Install or remove the NSS module and its nsswitch.conf entry
    Nss(nss::NssArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page pnrp(1) in roff
    Man,
}

/// The outcome of a command as a process exit code (design §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// 0: the command did what was asked.
    Success,
    /// 1: what was asked for does not exist.
    NotFound,
    /// 2: bad input; the message names the rule broken.
    BadInput,
    /// 3: `pnrpd` is not reachable.
    DaemonUnreachable,
    /// 4: `pnrpd` did not answer in time.
    Timeout,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::NotFound,
        Self::BadInput,
        Self::DaemonUnreachable,
        Self::Timeout,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::NotFound => 1,
            Self::BadInput => 2,
            Self::DaemonUnreachable => 3,
            Self::Timeout => 4,
        }
    }

    /// A stable machine-readable name (the `kind` of `--json` errors).
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::NotFound => "not_found",
            Self::BadInput => "bad_input",
            Self::DaemonUnreachable => "daemon_unreachable",
            Self::Timeout => "timeout",
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        Self::from(status.code())
    }
}

/// Why a command failed. [`CliError::status`] gives its exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A peer name argument is not valid.
    #[error("invalid peer name {input:?}")]
    InvalidPeerName {
        /// The argument.
        input: String,
        /// The rule it broke.
        #[source]
        source: NameError,
    },
    /// A valid peer name has no `*.pnrp.net` form.
    #[error("peer name {input:?} has no host name")]
    NoHostName {
        /// The argument.
        input: String,
        /// The rule it broke.
        #[source]
        source: HostNameError,
    },
    /// A host name argument is not the host name of a peer name.
    #[error("invalid host name {input:?}")]
    InvalidHostName {
        /// The argument.
        input: String,
        /// The rule it broke.
        #[source]
        source: HostNameError,
    },
    /// An identity-store operation failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No runtime directory was given and none can be derived.
    #[error(
        "cannot tell where pnrpd's sockets are: XDG_RUNTIME_DIR is not set; pass \
         --runtime-dir DIR or set PNRP_RUNTIME_DIR{hint}"
    )]
    NoRuntimeDir {
        /// Advice specific to the command, starting with " (" (or empty).
        hint: &'static str,
    },
    /// The daemon's socket does not exist or refuses connections.
    #[error("pnrpd is not reachable at {}: {error}{hint}", path.display())]
    DaemonUnreachable {
        /// The socket.
        path: PathBuf,
        /// Why connecting failed.
        error: io::Error,
        /// Advice specific to the command, starting with " (" (or empty).
        hint: &'static str,
    },
    /// A peer-name or host-name argument is not valid.
    #[error("invalid name {input:?}")]
    InvalidName {
        /// The argument.
        input: String,
        /// The rule it broke.
        #[source]
        source: HostNameError,
    },
    /// An argument breaks a rule.
    #[error("{arg}: {rule}")]
    BadArgument {
        /// The argument as given.
        arg: String,
        /// The rule it broke.
        rule: String,
    },
    /// A file named on the command line cannot be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: io::Error,
    },
    /// The daemon refused or failed the request.
    #[error("{message}")]
    Daemon {
        /// Its class.
        kind: crate::ipc::ErrorKind,
        /// Its message.
        message: String,
    },
    /// The daemon's connection broke or spoke nonsense.
    #[error("talking to pnrpd at {}", path.display())]
    DaemonIo {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        #[source]
        error: crate::ipc::FrameError,
    },
    /// The daemon did not answer in time.
    #[error("pnrpd at {} did not answer in time", path.display())]
    DaemonTimeout {
        /// The socket.
        path: PathBuf,
    },
    /// Writing the output failed (other than stdout being closed).
    #[error("cannot write output")]
    Output(#[source] io::Error),
}

impl CliError {
    /// A response of the wrong kind: the daemon speaks another dialect.
    pub(crate) fn unexpected(r: &crate::ipc::Response) -> Self {
        match r {
            crate::ipc::Response::Error { kind, message } => Self::Daemon {
                kind: *kind,
                message: message.clone(),
            },
            _ => Self::Daemon {
                kind: crate::ipc::ErrorKind::Internal,
                message: "pnrpd answered with an unexpected response".into(),
            },
        }
    }

    /// The exit status of this error: the one place where failures become
    /// exit codes (documented in [`EXIT_STATUS_HELP`]).
    pub fn status(&self) -> Status {
        match self {
            Self::InvalidPeerName { .. }
            | Self::NoHostName { .. }
            | Self::InvalidHostName { .. } => Status::BadInput,
            Self::Identity(e) => match e {
                IdentityError::NotFound { .. } => Status::NotFound,
                IdentityError::InvalidLabel { .. }
                | IdentityError::AlreadyExists { .. }
                | IdentityError::InsecurePermissions { .. }
                | IdentityError::NotARegularFile { .. }
                | IdentityError::Corrupt { .. }
                | IdentityError::Io { .. } => Status::BadInput,
            },
            Self::NoRuntimeDir { .. } | Self::DaemonUnreachable { .. } | Self::DaemonIo { .. } => {
                Status::DaemonUnreachable
            }
            Self::InvalidName { .. } | Self::BadArgument { .. } | Self::ReadFile { .. } => {
                Status::BadInput
            }
            Self::Daemon { kind, .. } => match kind {
                crate::ipc::ErrorKind::NotFound => Status::NotFound,
                crate::ipc::ErrorKind::BadInput | crate::ipc::ErrorKind::Denied => Status::BadInput,
                crate::ipc::ErrorKind::Timeout => Status::Timeout,
                crate::ipc::ErrorKind::Internal => Status::DaemonUnreachable,
            },
            Self::DaemonTimeout { .. } => Status::Timeout,
            Self::Output(_) => Status::BadInput,
        }
    }
}

/// Runs a parsed command line, printing its results and errors, and returns
/// the exit code.
pub fn run(cli: Cli) -> ExitCode {
    let mut out = Output::new(cli.global.json);
    let result = match &cli.command {
        Command::Name(args) => name::run(args, &mut out),
        Command::Identity(args) => identity::run(args, &cli.global, &mut out),
        Command::Register(a) => peer::register(a, &cli.global, &mut out),
        Command::Unregister(a) => peer::unregister(a, &cli.global, &mut out),
        Command::Resolve(a) => peer::resolve(a, &cli.global, &mut out),
        Command::Trace(a) => peer::trace(a, &cli.global, &mut out),
        Command::Clouds => peer::inspect(crate::ipc::Request::Clouds, &cli.global, &mut out),
        Command::Cache(a) => peer::inspect(
            crate::ipc::Request::Cache {
                cloud: a.cloud.clone(),
            },
            &cli.global,
            &mut out,
        ),
        Command::Registrations => {
            peer::inspect(crate::ipc::Request::Registrations, &cli.global, &mut out)
        }
        Command::Status => peer::inspect(crate::ipc::Request::Status, &cli.global, &mut out),
        Command::Nss(a) => nss::run(a, &mut out),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "pnrp", &mut buf);
            out.raw(&buf)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut buf) {
                Ok(()) => out.raw(&buf),
                Err(e) => Err(CliError::Output(e)),
            }
        }
    };
    match result {
        Ok(()) => Status::Success.into(),
        Err(error) => {
            let status = error.status();
            out.error(status, &error);
            status.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::CommandFactory as _;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_status_help_lists_every_status() {
        for status in Status::ALL {
            let line = format!("\n  {}  ", status.code());
            assert!(EXIT_STATUS_HELP.contains(&line), "{status:?} missing");
        }
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
    }

    #[test]
    fn identity_errors_map_to_documented_codes() {
        let not_found = CliError::from(IdentityError::NotFound {
            label: "x".into(),
            path: "/x.key".into(),
        });
        assert_eq!(not_found.status().code(), 1);
        let exists = CliError::from(IdentityError::AlreadyExists {
            label: "x".into(),
            path: "/x.key".into(),
        });
        assert_eq!(exists.status().code(), 2);
        let unreachable = CliError::DaemonUnreachable {
            path: "/run/pnrp/control.sock".into(),
            error: io::ErrorKind::NotFound.into(),
            hint: "",
        };
        assert_eq!(unreachable.status().code(), 3);
        assert_eq!(Status::Timeout.code(), 4);
    }
}
