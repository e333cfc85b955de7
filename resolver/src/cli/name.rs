//! `pnrp name to-host` and `pnrp name from-host`: the offline conversions
//! between peer names and `*.pnrp.net` host names (design §4), built on
//! [`crate::host`].
//!
//! Plain output is the converted name alone, so it composes in scripts
//! (`ping "$(pnrp name to-host 0.MyPrinter)"`). With `--json` both commands
//! print `{"peer_name", "host_name", "secured", "authority", "classifier"}`;
//! `peer_name` and `host_name` are the fields outside checks rely on.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::CliError;
use super::output::Output;
use crate::host;
use crate::name::PeerName;

/// `pnrp name …`
#[derive(Debug, Args)]
#[command(after_help = super::EXIT_STATUS_HELP)]
pub struct NameArgs {
    /// The conversion.
    #[command(subcommand)]
    pub command: NameCommand,
}

/// The `pnrp name` subcommands.
#[derive(Debug, Subcommand)]
pub enum NameCommand {
    /// Print the *.pnrp.net host name of a peer name
    ///
    /// `0.MyPrinter` becomes `myprinter.pnrp.net`; a secured name
    /// `<authority>.Service` becomes `service.p<authority>.pnrp.net`.
    /// Non-ASCII labels are IDNA-encoded (`xn--…`).
    #[command(name = "to-host")]
    ToHost {
        /// The peer name, `authority.classifier` (authority `0` or 40 hex digits)
        #[arg(value_name = "PEERNAME")]
        peer_name: String,
    },
    /// Print the peer name of a *.pnrp.net host name
    ///
    /// Any case and a trailing dot are accepted. A last label of `p` + 40 hex
    /// digits is the authority of a secured name.
    #[command(name = "from-host")]
    FromHost {
        /// The host name, ending in .pnrp.net
        #[arg(value_name = "HOSTNAME")]
        host_name: String,
    },
}

/// The `--json` document of both commands.
#[derive(Debug, Serialize)]
struct NameReport<'a> {
    /// The peer name in its display spelling.
    peer_name: String,
    /// The host name: for `to-host` the converted name, for `from-host` the
    /// argument as given.
    host_name: &'a str,
    secured: bool,
    /// `0`, or the 40 lowercase hex digits of a secured name.
    authority: String,
    /// The classifier in its display spelling.
    classifier: &'a str,
}

impl<'a> NameReport<'a> {
    fn new(name: &'a PeerName, host_name: &'a str) -> Self {
        let secured = name.is_secured();
        Self {
            peer_name: name.to_string(),
            host_name,
            secured,
            authority: if secured {
                name.binary_authority().to_string()
            } else {
                "0".to_owned()
            },
            classifier: name.classifier().as_str(),
        }
    }
}

/// Runs a `pnrp name` command.
pub(crate) fn run(args: &NameArgs, out: &mut Output) -> Result<(), CliError> {
    match &args.command {
        NameCommand::ToHost { peer_name } => {
            let name = PeerName::parse(peer_name).map_err(|source| CliError::InvalidPeerName {
                input: peer_name.clone(),
                source,
            })?;
            let host_name = host::to_host(&name).map_err(|source| CliError::NoHostName {
                input: peer_name.clone(),
                source,
            })?;
            out.emit(&NameReport::new(&name, &host_name), |w| {
                writeln!(w, "{host_name}")
            })
        }
        NameCommand::FromHost { host_name } => {
            let name = host::from_host(host_name).map_err(|source| CliError::InvalidHostName {
                input: host_name.clone(),
                source,
            })?;
            out.emit(&NameReport::new(&name, host_name), |w| {
                writeln!(w, "{name}")
            })
        }
    }
}
