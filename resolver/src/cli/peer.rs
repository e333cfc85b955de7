//! `pnrp register`, `unregister`, `resolve`, `trace` and the inspection
//! commands `clouds`, `cache`, `registrations`, `status` (design §6): each
//! is one IPC request to `pnrpd` (`crate::ipc`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::daemon::{Socket, request};
use super::output::Output;
use super::{CliError, GlobalArgs};
use crate::ipc::{EndpointSpec, PayloadSpec, Request, Response, ResultOut};

/// Arguments of `pnrp register`.
#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// Peer name to publish (`0.Name` or `<authority>.Name`) or its host name
    pub name: String,
    /// Application endpoints.
    #[arg(
        long = "addr",
        value_name = "IP[:PORT][/tcp|/udp]",
        help = "Application endpoint IP[:PORT][/tcp|/udp] (repeatable, at most 10); none = \
                the node's own addresses"
    )]
    pub addrs: Vec<String>,
    /// Comment (≤ 39 characters)
    #[arg(long)]
    pub comment: Option<String>,
    /// Text payload (≤ 4,095 bytes)
    #[arg(long, conflicts_with = "payload_file")]
    pub payload: Option<String>,
    /// Binary payload from a file (≤ 4,096 bytes)
    #[arg(long, value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// Only this cloud
    #[arg(long)]
    pub cloud: Option<String>,
}

/// Arguments of `pnrp unregister`.
#[derive(Debug, Clone, Args)]
pub struct UnregisterArgs {
    /// Peer name (or host name) to withdraw
    pub name: String,
    /// Only this cloud
    #[arg(long)]
    pub cloud: Option<String>,
}

/// Arguments of `pnrp resolve` and `pnrp trace`.
#[derive(Debug, Clone, Args)]
pub struct ResolveArgs {
    /// Peer name or *.pnrp.net host name
    pub name: String,
    /// Only this cloud
    #[arg(long)]
    pub cloud: Option<String>,
    /// Most results
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub max: u16,
    /// Seconds to wait (≤ 600)
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
}

/// Arguments of `pnrp cache`.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Only this cloud
    #[arg(long)]
    pub cloud: Option<String>,
}

/// Parses `IP[:PORT][/tcp|/udp]`.
pub(crate) fn parse_addr(text: &str) -> Result<EndpointSpec, CliError> {
    let bad = |rule: &str| CliError::BadArgument {
        arg: format!("--addr {text}"),
        rule: rule.to_owned(),
    };
    let (addr, proto) = match text.rsplit_once('/') {
        Some((a, p)) => (a, p.to_ascii_lowercase()),
        None => (text, String::new()),
    };
    if !matches!(proto.as_str(), "" | "tcp" | "udp") {
        return Err(bad("the protocol after `/` must be tcp or udp"));
    }
    let (ip, port) = if let Ok(sa) = addr.parse::<SocketAddr>() {
        (sa.ip(), sa.port())
    } else if let Ok(ip) = addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        (ip, 0)
    } else {
        return Err(bad(
            "must be IP[:PORT][/tcp|/udp], e.g. 10.1.2.3, 10.1.2.3:80/tcp, [2001:db8::1]:53/udp",
        ));
    };
    Ok(EndpointSpec {
        addr: ip.to_string(),
        port,
        proto,
    })
}

fn timeout_ms(secs: f64) -> Result<u64, CliError> {
    if !(secs > 0.0 && secs <= 600.0) {
        return Err(CliError::BadArgument {
            arg: format!("--timeout {secs}"),
            rule: "the timeout must be more than 0 and at most 600 seconds".into(),
        });
    }
    Ok((secs * 1000.0).round() as u64)
}

fn print_results(w: &mut dyn std::io::Write, results: &[ResultOut]) -> std::io::Result<()> {
    for r in results {
        writeln!(w, "{} ({})", r.peer_name, r.cloud)?;
        if let Some(h) = &r.host_name {
            writeln!(w, "  host name: {h}")?;
        }
        for e in &r.endpoints {
            let ip: Option<IpAddr> = e.addr.parse().ok();
            let shown = match (ip, e.port) {
                (Some(IpAddr::V6(_)), p) if p != 0 => format!("[{}]:{p}", e.addr),
                (_, 0) => e.addr.clone(),
                (_, p) => format!("{}:{p}", e.addr),
            };
            if e.proto.is_empty() {
                writeln!(w, "  endpoint:  {shown}")?;
            } else {
                writeln!(w, "  endpoint:  {shown}/{}", e.proto)?;
            }
        }
        if let Some(c) = &r.comment {
            writeln!(w, "  comment:   {c}")?;
        }
        writeln!(w, "  payload:   {} bytes", r.payload_len)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ResolveReport<'a> {
    results: &'a [ResultOut],
}

/// Validates the arguments, then asks the lookup socket for up to `max`
/// results.
fn lookup(a: &ResolveArgs, g: &GlobalArgs, max: usize) -> Result<Vec<ResultOut>, CliError> {
    let timeout_ms = timeout_ms(a.timeout)?;
    check_name(&a.name)?;
    let r = request(
        g,
        Socket::Lookup,
        &Request::Resolve {
            name: a.name.clone(),
            cloud: a.cloud.clone(),
            max,
            timeout_ms,
        },
        timeout_ms,
    )?;
    match r {
        Response::Resolved { results } => Ok(results),
        other => Err(CliError::unexpected(&other)),
    }
}

/// `pnrp resolve`.
pub(crate) fn resolve(a: &ResolveArgs, g: &GlobalArgs, out: &mut Output) -> Result<(), CliError> {
    let results = lookup(a, g, usize::from(a.max))?;
    out.emit(&ResolveReport { results: &results }, |w| {
        print_results(w, &results)
    })
}

/// `pnrp trace`.
pub(crate) fn trace(a: &ResolveArgs, g: &GlobalArgs, out: &mut Output) -> Result<(), CliError> {
    let results = lookup(a, g, 1)?;
    out.emit(&ResolveReport { results: &results }, |w| {
        for r in &results {
            writeln!(
                w,
                "{} in {}: {} LOOKUP hop(s)",
                r.peer_name, r.cloud, r.hops
            )?;
            for (i, hop) in r.path.iter().enumerate() {
                let what = if i == 0 { "this node" } else { "LOOKUP" };
                writeln!(w, "  {i:>2}  {hop:<45} {what}")?;
            }
            writeln!(
                w,
                "  {:>2}  {:<45} INQUIRE (publisher, CPA verified)",
                r.path.len(),
                r.publisher
            )?;
        }
        Ok(())
    })
}

/// Validates a name locally first, so bad input never reaches the daemon.
fn check_name(text: &str) -> Result<(), CliError> {
    crate::host::parse_any(text)
        .map(drop)
        .map_err(|source| CliError::InvalidName {
            input: text.to_owned(),
            source,
        })
}

/// `pnrp register`.
pub(crate) fn register(a: &RegisterArgs, g: &GlobalArgs, out: &mut Output) -> Result<(), CliError> {
    check_name(&a.name)?;
    let endpoints = a
        .addrs
        .iter()
        .map(|s| parse_addr(s))
        .collect::<Result<Vec<_>, _>>()?;
    let payload = match (&a.payload, &a.payload_file) {
        (Some(t), _) => Some(PayloadSpec::Text(t.clone())),
        (None, Some(f)) => {
            let bytes = std::fs::read(f).map_err(|e| CliError::ReadFile {
                path: f.clone(),
                error: e,
            })?;
            Some(PayloadSpec::Hex(hex::encode(bytes)))
        }
        (None, None) => None,
    };
    let r = request(
        g,
        Socket::Control,
        &Request::Register {
            name: a.name.clone(),
            endpoints,
            comment: a.comment.clone(),
            payload,
            cloud: a.cloud.clone(),
        },
        30_000,
    )?;
    let Response::Registered {
        peer_name,
        host_name,
        ids,
    } = r
    else {
        return Err(CliError::unexpected(&r));
    };
    #[derive(Serialize)]
    struct Report<'a> {
        peer_name: &'a str,
        host_name: &'a Option<String>,
        clouds: Vec<&'a str>,
        pnrp_ids: Vec<&'a str>,
    }
    let report = Report {
        peer_name: &peer_name,
        host_name: &host_name,
        clouds: ids.iter().map(|(c, _)| c.as_str()).collect(),
        pnrp_ids: ids.iter().map(|(_, i)| i.as_str()).collect(),
    };
    out.emit(&report, |w| {
        writeln!(w, "registered {peer_name}")?;
        if let Some(h) = &host_name {
            writeln!(w, "  host name: {h}")?;
        }
        for (c, id) in &ids {
            writeln!(w, "  {c}: {id}")?;
        }
        Ok(())
    })
}

/// `pnrp unregister`.
pub(crate) fn unregister(
    a: &UnregisterArgs,
    g: &GlobalArgs,
    out: &mut Output,
) -> Result<(), CliError> {
    check_name(&a.name)?;
    let r = request(
        g,
        Socket::Control,
        &Request::Unregister {
            name: a.name.clone(),
            cloud: a.cloud.clone(),
        },
        30_000,
    )?;
    let Response::Unregistered { removed } = r else {
        return Err(CliError::unexpected(&r));
    };
    out.emit(
        &serde_json::json!({ "peer_name": a.name, "removed": removed }),
        |w| writeln!(w, "unregistered {} ({removed} registration(s))", a.name),
    )
}

/// `pnrp clouds`, `cache`, `registrations`, `status`.
pub(crate) fn inspect(req: Request, g: &GlobalArgs, out: &mut Output) -> Result<(), CliError> {
    let socket = if req.is_lookup() {
        Socket::Lookup
    } else {
        Socket::Control
    };
    let r = request(g, socket, &req, 10_000)?;
    match &r {
        Response::Clouds { clouds } => out.emit(&serde_json::json!({ "clouds": clouds }), |w| {
            for c in clouds {
                writeln!(
                    w,
                    "{:<24} {:<14} {:<28} cache {:>4}  registrations {}",
                    c.name, c.state, c.listen, c.cache_entries, c.registrations
                )?;
                let n = &c.counters;
                writeln!(
                    w,
                    "  datagrams in {} out {}, retransmits {}, timeouts {}, dropped by rate limit {}, \
                     malformed {}, CPAs rejected {}, LOOKUPs served {}, INQUIREs served {}",
                    n.rx_datagrams,
                    n.tx_datagrams,
                    n.retransmits,
                    n.timeouts,
                    n.dropped_rate,
                    n.dropped_malformed,
                    n.cpa_rejected,
                    n.lookups_served,
                    n.inquires_served
                )?;
            }
            Ok(())
        }),
        Response::Cache { entries } => out.emit(&serde_json::json!({ "entries": entries }), |w| {
            for e in entries {
                writeln!(
                    w,
                    "{:<12} {} {}{}",
                    e.cloud,
                    e.pnrp_id,
                    e.endpoints.join(","),
                    if e.has_cpa { " cpa" } else { "" }
                )?;
            }
            Ok(())
        }),
        Response::Registrations { registrations } => out.emit(
            &serde_json::json!({ "registrations": registrations }),
            |w| {
                for r in registrations {
                    let eps: Vec<String> = r
                        .endpoints
                        .iter()
                        .map(|e| {
                            format!(
                                "{}:{}{}{}",
                                e.addr,
                                e.port,
                                if e.proto.is_empty() { "" } else { "/" },
                                e.proto
                            )
                        })
                        .collect();
                    writeln!(w, "{:<40} {:<12} {}", r.peer_name, r.cloud, eps.join(" "))?;
                }
                Ok(())
            },
        ),
        Response::Status {
            version,
            pid,
            uptime_s,
            clouds,
        } => out.emit(&r, |w| {
            writeln!(w, "pnrpd {version}, pid {pid}, up {uptime_s} s")?;
            for c in clouds {
                writeln!(
                    w,
                    "  {} {} ({} cached, {} registered)",
                    c.name, c.state, c.cache_entries, c.registrations
                )?;
            }
            Ok(())
        }),
        other => Err(CliError::unexpected(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_forms() {
        let e = parse_addr("10.1.2.3").unwrap();
        assert_eq!(
            (e.addr.as_str(), e.port, e.proto.as_str()),
            ("10.1.2.3", 0, "")
        );
        let e = parse_addr("10.1.2.3:80/TCP").unwrap();
        assert_eq!((e.port, e.proto.as_str()), (80, "tcp"));
        let e = parse_addr("[2001:db8::1]:53/udp").unwrap();
        assert_eq!((e.addr.as_str(), e.port), ("2001:db8::1", 53));
        let e = parse_addr("2001:db8::1").unwrap();
        assert_eq!(e.port, 0);
        for bad in ["", "host:80", "10.1.2.3/sctp", "10.1.2.3:99999"] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
    }
}
