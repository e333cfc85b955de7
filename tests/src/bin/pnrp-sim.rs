//! `pnrp-sim`: runs a simulated PNRP cloud and prints its report (design §7;
//! every flag and report key is documented in `docs/simulation.md`).
//!
//! Exit codes: 0 done, 1 determinism check failed, 2 bad input.

use core::time::Duration;
use std::process::ExitCode;

use clap::Parser;
use pnrp_tests::sim::net::parse_duration;
use pnrp_tests::sim::{Behaviour, CryptoMode, Lifetime, Partition, RunError, Scenario};

/// A simulation allocates and frees a buffer or two for every datagram and
/// route entry of 10^4–10^5 engines: glibc malloc took ~18 % of a run's CPU
/// time (profile in docs/simulation.md), mimalloc much less. The run does not
/// depend on the allocator (nothing iterates in address order).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic discrete-event simulation of a PNRP cloud running the real
/// engine with real encoded datagrams.
#[derive(Debug, Parser)]
#[command(name = "pnrp-sim", version, about, long_about = None)]
struct Args {
    /// Nodes in the cloud (population; under churn about half are live).
    #[arg(long, default_value_t = 1000)]
    nodes: u32,
    /// Resolutions to issue after the warm-up.
    #[arg(long, default_value_t = 1000)]
    lookups: u32,
    /// Master seed: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Session-time model: `none` or `exp:MEDIAN` (e.g. exp:30m, exp:84s).
    #[arg(long, default_value = "none", value_parser = Lifetime::parse)]
    churn: Lifetime,
    /// Off-time model between sessions (default: the same as --churn).
    #[arg(long, value_parser = Lifetime::parse)]
    offtime: Option<Lifetime>,
    /// Probability that each datagram is lost (0–1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Fraction of malicious nodes (0 to below 1).
    #[arg(long, default_value_t = 0.0)]
    malicious: f64,
    /// What malicious nodes do: a comma-separated subset of drop,claim,forge.
    #[arg(long, default_value = "drop,claim,forge", value_parser = parse_mode)]
    malicious_mode: Mode,
    /// Probability that a malicious node drops a LOOKUP (with `drop`).
    #[arg(long, default_value_t = 0.3)]
    malicious_drop: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Run twice and compare the event hashes; exit 1 if they differ.
    #[arg(long)]
    check_determinism: bool,
    /// Settling time after the last registration (e.g. 120, 5m).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    warmup: Duration,
    /// Maintenance measurement window, without lookups.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    measure: Duration,
    /// Signatures: `sim` (keyed SHA-256) or `real` (P-256, ≤ 10^4 nodes).
    #[arg(long, default_value = "sim")]
    crypto: CryptoMode,
    /// Publish unsecured names (`0.node<i>`) instead of secured ones.
    #[arg(long)]
    unsecured: bool,
    /// Honest nodes sharing each name.
    #[arg(long, default_value_t = 1)]
    publishers_per_name: u32,
    /// A partition `START+DURATION:FRACTION` (absolute virtual times,
    /// e.g. 300+120:0.5); repeatable.
    #[arg(long = "partition", value_parser = Partition::parse)]
    partitions: Vec<Partition>,
    /// Spread the lookups over this long (sets the lookup rate).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Lookups started per virtual second (ignored with --duration).
    #[arg(long, default_value_t = 20.0)]
    lookup_rate: f64,
    /// Deadline of each lookup.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    lookup_timeout: Duration,
    /// Minimum age of a lookup's issuer and of its target's registration.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    grace: Duration,
    /// Delay from a node's start to its registration.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    register_delay: Duration,
    /// Time between join waves.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    wave_gap: Duration,
    /// Engine maintenance period (default: the engine's, 15 s).
    #[arg(long, value_parser = parse_duration)]
    maintenance: Option<Duration>,
    /// Engine registration refresh period (default: the engine's, 1 h).
    #[arg(long, value_parser = parse_duration)]
    refresh: Option<Duration>,
    /// Engine per-source rate-limit table size (default: the engine's,
    /// 4096; its hash table is allocated in full when a node starts).
    #[arg(long)]
    rate_sources: Option<usize>,
    /// Check every node's cache invariants after each input (slow).
    #[arg(long)]
    check_invariants: bool,
    /// Progress lines on stderr every 30 virtual seconds.
    #[arg(long)]
    progress: bool,
    /// Threads: node partitions simulated in parallel (1–64; default 1
    /// below 5,000 nodes, else 2 when the machine has two cores). The run
    /// is the same, event for event, for any value.
    #[arg(long)]
    threads: Option<usize>,
}

/// Malicious behaviours enabled.
#[derive(Debug, Clone, Copy)]
struct Mode {
    drop: bool,
    claim: bool,
    forge: bool,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    let mut m = Mode {
        drop: false,
        claim: false,
        forge: false,
    };
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part {
            "drop" => m.drop = true,
            "claim" => m.claim = true,
            "forge" => m.forge = true,
            other => {
                return Err(format!(
                    "malicious mode must be a subset of drop,claim,forge; got {other:?}"
                ));
            }
        }
    }
    Ok(m)
}

/// Below 5,000 nodes a window (5 ms of virtual time) holds too few events
/// to be worth sharing between threads.
fn default_threads(nodes: u32) -> usize {
    if nodes < 5_000 {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

fn scenario(a: &Args) -> Result<Scenario, String> {
    let mut engine = pnrp::engine::Config::default();
    if let Some(m) = a.maintenance {
        if m < Duration::from_secs(1) {
            return Err("--maintenance must be at least 1 s".into());
        }
        engine.maintenance = m;
    }
    if let Some(r) = a.refresh {
        if r < Duration::from_secs(1) {
            return Err("--refresh must be at least 1 s".into());
        }
        engine.refresh = r;
    }
    if let Some(n) = a.rate_sources {
        if n == 0 {
            return Err("--rate-sources must be at least 1".into());
        }
        engine.rate.max_sources = n;
    }
    let lookup_rate = match a.duration {
        Some(d) if d.is_zero() => return Err("--duration must be positive".into()),
        Some(d) => f64::from(a.lookups.max(1)) / d.as_secs_f64(),
        None => a.lookup_rate,
    };
    Ok(Scenario {
        nodes: a.nodes,
        lookups: a.lookups,
        seed: a.seed,
        churn: a.churn,
        offtime: a.offtime,
        loss: a.loss,
        malicious: a.malicious,
        behaviour: Behaviour {
            drop_lookups: if a.malicious_mode.drop {
                a.malicious_drop
            } else {
                0.0
            },
            claim_closest: a.malicious_mode.claim,
            forge_cpas: a.malicious_mode.forge,
        },
        crypto: a.crypto,
        unsecured: a.unsecured,
        publishers_per_name: a.publishers_per_name,
        partitions: a.partitions.clone(),
        warmup: a.warmup,
        measure: a.measure,
        lookup_rate,
        lookup_timeout: a.lookup_timeout,
        grace: a.grace,
        register_delay: a.register_delay,
        wave_gap: a.wave_gap,
        check_invariants: a.check_invariants,
        engine,
        progress: a.progress,
        threads: a.threads.unwrap_or_else(|| default_threads(a.nodes)),
        ..Scenario::default()
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let s = match scenario(&args).and_then(|s| s.validate().map(|()| s)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pnrp-sim: error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.check_determinism {
        pnrp_tests::sim::run_checked(&s)
    } else {
        pnrp_tests::sim::run(&s)
    };
    match result {
        Ok(report) => {
            if args.json {
                match serde_json::to_string(&report) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("pnrp-sim: error: cannot encode the report: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::SUCCESS
        }
        Err(e @ RunError::Invalid(_)) => {
            eprintln!("pnrp-sim: error: {e}");
            ExitCode::from(2)
        }
        Err(e @ RunError::NotDeterministic { .. }) => {
            eprintln!("pnrp-sim: error: {e}");
            ExitCode::from(1)
        }
    }
}
