//! `pnrpd` configuration: flags (design §6), environment and the optional
//! TOML file, in that order of precedence. Every setting and its default is
//! listed in `docs/pnrpd.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use super::DaemonError;

/// The PNRP cloud names of this profile.
pub const GLOBAL_CLOUD: &str = "Global_";

/// `pnrpd` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pnrpd",
    version,
    about = "The PNRP daemon: joins clouds, publishes and resolves peer names, serves the \
             pnrp command line, the NSS module and the Rust API over Unix sockets."
)]
pub struct Flags {
    /// Configuration file [default: /etc/pnrp/pnrpd.toml if it exists]
    #[arg(long, value_name = "FILE", env = "PNRPD_CONFIG")]
    pub config: Option<PathBuf>,
    /// State directory (identities, registrations, cache snapshot)
    /// [default: /var/lib/pnrp as root, else $XDG_STATE_HOME/pnrp]
    #[arg(long, value_name = "DIR", env = "PNRPD_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Directory of lookup.sock and control.sock
    /// [default: /run/pnrp as root, else $XDG_RUNTIME_DIR/pnrp]
    #[arg(long, value_name = "DIR", env = "PNRP_RUNTIME_DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// A named private cloud to join (repeatable)
    #[arg(long = "cloud", value_name = "NAME")]
    pub clouds: Vec<String>,
    /// PNRP socket of the named clouds.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        help = "PNRP socket of the named clouds [default: [::]:3540]"
    )]
    pub listen: Option<SocketAddr>,
    /// Seed node (repeatable): of the named clouds if any, else of Global_
    #[arg(long = "seed", value_name = "ADDR:PORT")]
    pub seeds: Vec<SocketAddr>,
    /// Do not open the link-local clouds.
    #[arg(long, help = "Do not open LinkLocal_<ifname> clouds")]
    pub no_link_local: bool,
    /// DNS stub addresses.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        help = "DNS stub address (repeatable) [default: 127.0.0.1:5335 and [::1]:5335]"
    )]
    pub dns_listen: Vec<SocketAddr>,
    /// Do not serve the DNS stub
    #[arg(long)]
    pub no_dns: bool,
    /// TTL of the DNS stub's answers and how long it caches them, seconds
    /// [default: 10]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub dns_ttl: Option<u32>,
    /// After answering a DNS question, keep polling the socket this many
    /// microseconds before sleeping (0: never poll) [default: 0]
    #[arg(long, value_name = "MICROS", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub dns_poll_us: Option<u32>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing
    /// EnvFilter directive) [default: info; RUST_LOG also works]
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
}

/// The optional TOML file. Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// State directory.
    pub state_dir: Option<PathBuf>,
    /// Runtime directory.
    pub runtime_dir: Option<PathBuf>,
    /// Seeds of Global_.
    #[serde(default)]
    pub global_seeds: Vec<SocketAddr>,
    /// Named private clouds.
    #[serde(default)]
    pub clouds: Vec<FileCloud>,
    /// Open link-local clouds (default true).
    pub link_local: Option<bool>,
    /// Log filter.
    pub log: Option<String>,
    /// DNS stub addresses (flags win).
    #[serde(default)]
    pub dns_listen: Vec<SocketAddr>,
    /// DNS answer TTL in seconds (1..=86400).
    pub dns_ttl: Option<u32>,
    /// DNS stub socket polling after each answer, µs (0..=10000).
    pub dns_poll_us: Option<u32>,
    /// Names this node may publish per named cloud (default 64).
    pub max_registrations: Option<usize>,
    /// Publish the host name automatically: `"unsecured"` (`0.<hostname>`),
    /// or the label of an identity (secured `<authority>.<hostname>`).
    pub machine_name: Option<String>,
}

/// A named cloud in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCloud {
    /// Cloud name.
    pub name: String,
    /// PNRP socket.
    pub listen: SocketAddr,
    /// Seeds.
    #[serde(default)]
    pub seeds: Vec<SocketAddr>,
}

/// One cloud to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudSpec {
    /// Name.
    pub name: String,
    /// PNRP socket.
    pub listen: SocketAddr,
    /// Seeds.
    pub seeds: Vec<SocketAddr>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// State directory.
    pub state_dir: PathBuf,
    /// Runtime directory.
    pub runtime_dir: PathBuf,
    /// Clouds to open.
    pub clouds: Vec<CloudSpec>,
    /// Link-local clouds wanted.
    pub link_local: bool,
    /// DNS stub addresses (empty = off).
    pub dns_listen: Vec<SocketAddr>,
    /// DNS answer TTL (and cache lifetime).
    pub dns_ttl: std::time::Duration,
    /// How long the stub's UDP threads poll after answering.
    pub dns_poll: std::time::Duration,
    /// Names this node may publish in each named cloud.
    pub max_registrations: usize,
    /// `dns_listen` is the built-in default (a bind failure is then a
    /// warning, not an error: the node is useful without its stub).
    pub dns_default: bool,
    /// Log filter.
    pub log: String,
    /// Machine-name publication.
    pub machine_name: Option<String>,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn user_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d).join("pnrp")),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback).join("pnrp")),
    }
}

impl DaemonConfig {
    /// Combines flags, environment and the file.
    pub fn from_flags(flags: Flags) -> Result<Self, DaemonError> {
        let file = match &flags.config {
            Some(path) => Some(read_file(path)?),
            None => {
                let default = Path::new("/etc/pnrp/pnrpd.toml");
                if default.exists() {
                    Some(read_file(default)?)
                } else {
                    None
                }
            }
        }
        .unwrap_or_default();
        let root = is_root();
        let state_dir = flags
            .state_dir
            .or(file.state_dir)
            .or_else(|| root.then(|| PathBuf::from("/var/lib/pnrp")))
            .or_else(|| user_dir("XDG_STATE_HOME", ".local/state"))
            .ok_or_else(|| DaemonError::Config("no state directory: pass --state-dir".into()))?;
        let runtime_dir = flags
            .runtime_dir
            .or(file.runtime_dir)
            .or_else(|| root.then(|| PathBuf::from("/run/pnrp")))
            .or_else(|| {
                std::env::var_os("XDG_RUNTIME_DIR")
                    .filter(|d| !d.is_empty())
                    .map(|d| PathBuf::from(d).join("pnrp"))
            })
            .ok_or_else(|| {
                DaemonError::Config("no runtime directory: pass --runtime-dir".into())
            })?;
        let listen = flags
            .listen
            .unwrap_or_else(|| SocketAddr::from(([0u16; 8], crate::wire::DEFAULT_PORT)));
        let mut clouds = Vec::new();
        for name in &flags.clouds {
            check_cloud_name(name)?;
            clouds.push(CloudSpec {
                name: name.clone(),
                listen,
                seeds: flags.seeds.clone(),
            });
        }
        for c in file.clouds {
            check_cloud_name(&c.name)?;
            if !clouds.iter().any(|x| x.name == c.name) {
                clouds.push(CloudSpec {
                    name: c.name,
                    listen: c.listen,
                    seeds: c.seeds,
                });
            }
        }
        // Global_ is opened unless only named clouds were asked for: alone
        // it still publishes and resolves this host's own names (design §5).
        if flags.clouds.is_empty() {
            let mut seeds = file.global_seeds;
            seeds.extend(flags.seeds.iter().copied());
            clouds.insert(
                0,
                CloudSpec {
                    name: GLOBAL_CLOUD.into(),
                    listen,
                    seeds,
                },
            );
        }
        let mut listens: Vec<SocketAddr> = clouds.iter().map(|c| c.listen).collect();
        listens.sort();
        listens.dedup();
        if listens.len() < clouds.len() {
            return Err(DaemonError::Config(
                "two clouds cannot share one PNRP socket (MS-PNRP §3.1.4.1): give named \
                 clouds their own `listen` in the configuration file"
                    .into(),
            ));
        }
        let dns_default =
            !flags.no_dns && flags.dns_listen.is_empty() && file.dns_listen.is_empty();
        let dns_listen = if flags.no_dns {
            Vec::new()
        } else if !flags.dns_listen.is_empty() {
            flags.dns_listen
        } else if !file.dns_listen.is_empty() {
            file.dns_listen.clone()
        } else {
            vec![
                SocketAddr::from(([127, 0, 0, 1], 5335)),
                SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 5335)),
            ]
        };
        let dns_ttl = match flags.dns_ttl.or(file.dns_ttl).unwrap_or(10) {
            t @ 1..=86_400 => std::time::Duration::from_secs(u64::from(t)),
            t => {
                return Err(DaemonError::Config(format!(
                    "dns_ttl = {t}: must be 1 to 86400 seconds"
                )));
            }
        };
        let dns_poll = match flags.dns_poll_us.or(file.dns_poll_us).unwrap_or(0) {
            t @ 0..=10_000 => std::time::Duration::from_micros(u64::from(t)),
            t => {
                return Err(DaemonError::Config(format!(
                    "dns_poll_us = {t}: must be 0 to 10000 microseconds"
                )));
            }
        };
        Ok(Self {
            state_dir,
            runtime_dir,
            clouds,
            link_local: !flags.no_link_local && file.link_local.unwrap_or(true),
            dns_listen,
            dns_ttl,
            dns_poll,
            dns_default,
            max_registrations: match file.max_registrations {
                None => crate::engine::Config::default().max_registrations,
                Some(n @ 1..=1_000_000) => n,
                Some(n) => {
                    return Err(DaemonError::Config(format!(
                        "max_registrations = {n}: must be 1 to 1000000"
                    )));
                }
            },
            log: flags.log.or(file.log).unwrap_or_else(|| "info".into()),
            machine_name: file.machine_name,
        })
    }

    /// Whether the DNS stub is wanted.
    pub fn dns_enabled(&self) -> bool {
        !self.dns_listen.is_empty()
    }
}

fn check_cloud_name(name: &str) -> Result<(), DaemonError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(DaemonError::Config(format!(
            "cloud name {name:?}: 1-256 characters of A-Z a-z 0-9 _ - . :"
        )))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, DaemonError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DaemonError::Config(format!("{}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| DaemonError::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut v = vec!["pnrpd", "--state-dir", "/tmp/s", "--runtime-dir", "/tmp/r"];
        v.extend_from_slice(args);
        Flags::parse_from(v)
    }

    #[test]
    fn defaults_open_global_alone() {
        let c = DaemonConfig::from_flags(flags(&[])).unwrap();
        assert_eq!(c.clouds.len(), 1);
        assert_eq!(c.clouds[0].name, GLOBAL_CLOUD);
        assert_eq!(c.clouds[0].listen.port(), 3540);
        assert!(c.dns_enabled());
    }

    #[test]
    fn named_clouds_take_listen_and_seeds() {
        let c = DaemonConfig::from_flags(flags(&[
            "--cloud",
            "lab",
            "--listen",
            "127.0.0.2:4000",
            "--seed",
            "127.0.0.3:4000",
            "--no-dns",
        ]))
        .unwrap();
        assert_eq!(
            c.clouds,
            vec![CloudSpec {
                name: "lab".into(),
                listen: "127.0.0.2:4000".parse().unwrap(),
                seeds: vec!["127.0.0.3:4000".parse().unwrap()],
            }]
        );
        assert!(!c.dns_enabled());
    }

    #[test]
    fn two_clouds_on_one_socket_are_refused() {
        let e = DaemonConfig::from_flags(flags(&["--cloud", "a", "--cloud", "b"])).unwrap_err();
        assert!(e.to_string().contains("share one PNRP socket"));
    }

    #[test]
    fn bad_cloud_names_are_refused() {
        assert!(DaemonConfig::from_flags(flags(&["--cloud", "a b"])).is_err());
    }

    #[test]
    fn dns_polling_is_off_unless_asked_and_bounded() {
        let c = DaemonConfig::from_flags(flags(&[])).unwrap();
        assert_eq!(c.dns_poll, std::time::Duration::ZERO);
        let c = DaemonConfig::from_flags(flags(&["--dns-poll-us", "100"])).unwrap();
        assert_eq!(c.dns_poll, std::time::Duration::from_micros(100));
        assert!(Flags::try_parse_from(["pnrpd", "--dns-poll-us", "10001"]).is_err());
        let dir = std::env::temp_dir().join(format!("pnrpd-poll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pnrpd.toml");
        std::fs::write(&file, "dns_poll_us = 20000\n").unwrap();
        let e = DaemonConfig::from_flags(flags(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(e.to_string().contains("dns_poll_us = 20000"), "{e}");
        std::fs::write(&file, "dns_poll_us = 50\n").unwrap();
        let c = DaemonConfig::from_flags(flags(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(c.dns_poll, std::time::Duration::from_micros(50));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
