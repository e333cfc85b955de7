//! `pnrp-bench cloud` — a real cloud of `pnrpd` processes on 127.0.0.x
//! (issue #4): N daemons in a private cloud, one name registered on each,
//! then a fresh daemon that registers nothing resolves random names through
//! its lookup socket. Prints success, p50 and p99 of the resolution latency
//! (IPC round trip included), and the floor measured in the same run: the
//! mean number of exchanges per resolution (LOOKUP hops + the final INQUIRE)
//! times the loopback UDP round trip, i.e. what the resolutions would cost
//! if the daemons did no work at all. The round trip is the median of a
//! blocking UDP ping-pong between two threads pinned to two different CPUs
//! (as two daemons are, mostly), taken in bursts between resolutions so that
//! it sees the same machine load; a same-CPU and an unpinned ping-pong are
//! printed beside it. Beside the floor, the floor of
//! `perf-anchors.md` §(b): the same network time plus one P-256 signature
//! verification (every secured or unsecured answer carries a CPA that the
//! resolver must verify), timed in this process during the run. Also the
//! idle RSS of the daemons.

use std::io::{BufRead as _, BufReader};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pnrp::ipc::{self, Request, Response};

use crate::percentile;

/// Options of the cloud benchmark.
#[derive(Debug, Clone)]
pub(crate) struct CloudOptions {
    pub(crate) nodes: usize,
    pub(crate) resolutions: usize,
    pub(crate) settle_s: u64,
    /// Seconds between starting the resolving daemon and its first lookup.
    pub(crate) client_wait_s: f64,
}

struct Proc {
    child: Child,
    runtime: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

/// `PNRP_BENCH_LOG=LEVEL`: the daemons log at LEVEL to `log<i>.txt` in the
/// benchmark's directory, which is then kept (its path is printed).
const LOG_ENV: &str = "PNRP_BENCH_LOG";

fn log_level() -> String {
    std::env::var(LOG_ENV).unwrap_or_else(|_| "error".into())
}

fn start(dir: &Path, i: usize, seed: Option<&str>) -> Proc {
    let ip = format!("127.0.{}.{}", 1 + i / 200, 10 + i % 200);
    let listen = format!("{ip}:4000");
    let runtime = dir.join(format!("r{i}"));
    let mut cmd = Command::new(bin_dir().join("pnrpd"));
    cmd.args([
        "--cloud",
        "bench",
        "--listen",
        &listen,
        "--no-dns",
        "--no-link-local",
    ])
    .args(["--log", &log_level()])
    .arg("--state-dir")
    .arg(dir.join(format!("s{i}")))
    .arg("--runtime-dir")
    .arg(&runtime)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(
        match std::fs::File::create(dir.join(format!("log{i}.txt"))) {
            Ok(f) if std::env::var_os(LOG_ENV).is_some() => Stdio::from(f),
            _ => Stdio::null(),
        },
    );
    if let Some(s) = seed {
        cmd.args(["--seed", s]);
    }
    let child = cmd
        .spawn()
        .expect("pnrpd starts (build it: cargo build --release)");
    let p = Proc { child, runtime };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if UnixStream::connect(p.runtime.join("control.sock")).is_ok() {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("pnrpd {i} did not come up");
}

fn ask(socket: &Path, req: &Request) -> Response {
    let mut s = UnixStream::connect(socket).expect("daemon socket");
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    ipc::exchange(&mut s, req).expect("daemon answers")
}

fn rss_kb(pid: u32) -> u64 {
    let Ok(f) = std::fs::File::open(format!("/proc/{pid}/status")) else {
        return 0;
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Where the two threads of a round-trip probe run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Pinned to two different CPUs: every datagram wakes the other CPU, as
    /// between two daemons the scheduler has spread over both.
    CrossCpu,
    /// Both pinned to one CPU: every datagram is a context switch, no
    /// cross-CPU wake-up.
    SameCpu,
    /// Left to the scheduler.
    Unpinned,
}

impl Placement {
    pub(crate) const ALL: [Self; 3] = [Self::CrossCpu, Self::SameCpu, Self::Unpinned];

    fn label(self) -> &'static str {
        match self {
            Self::CrossCpu => "cross-CPU",
            Self::SameCpu => "same CPU",
            Self::Unpinned => "unpinned",
        }
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a properly sized, zeroed cpu_set_t owned by this frame.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to `cpu`; false if the kernel refused.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: as above; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// A blocking UDP ping-pong on 127.0.0.1 between two threads of their own
/// (200-byte datagrams, about a LOOKUP), kept alive for the whole run so that
/// bursts of round trips can be taken between resolutions: the floor is then
/// measured under the same machine load as the resolutions it is compared
/// with.
pub(crate) struct RttProbe {
    placement: Placement,
    pinned: bool,
    bursts: Option<mpsc::Sender<usize>>,
    results: mpsc::Receiver<Vec<f64>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    samples: Vec<f64>,
}

/// The datagram that stops the echo thread.
const STOP: [u8; 1] = [0xff];

impl RttProbe {
    pub(crate) fn new(placement: Placement) -> Self {
        let cpus = allowed_cpus();
        let (ping_cpu, echo_cpu) = match (placement, cpus.as_slice()) {
            (Placement::CrossCpu, [a, b, ..]) => (Some(*a), Some(*b)),
            (Placement::SameCpu, [a, ..]) => (Some(*a), Some(*a)),
            _ => (None, None),
        };
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let a_addr = a.local_addr().expect("addr");
        let b_addr = b.local_addr().expect("addr");
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_secs(1)))
                .expect("timeout");
        }
        let (pinned_tx, pinned_rx) = mpsc::channel();
        let echo_pinned = pinned_tx.clone();
        let echo = std::thread::spawn(move || {
            let _ = echo_pinned.send(echo_cpu.is_none_or(pin_to));
            let mut buf = [0u8; 512];
            loop {
                match b.recv_from(&mut buf) {
                    Ok((n, _)) if buf[..n] == STOP => return,
                    Ok((n, _)) => {
                        let _ = b.send_to(&buf[..n], a_addr);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
            }
        });
        let (bursts, burst_rx) = mpsc::channel::<usize>();
        let (result_tx, results) = mpsc::channel();
        let ping = std::thread::spawn(move || {
            let _ = pinned_tx.send(ping_cpu.is_none_or(pin_to));
            let msg = [0u8; 200];
            let mut buf = [0u8; 512];
            while let Ok(n) = burst_rx.recv() {
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    if a.send_to(&msg, b_addr).is_err() || a.recv_from(&mut buf).is_err() {
                        continue;
                    }
                    out.push(t.elapsed().as_secs_f64() * 1e6);
                }
                if result_tx.send(out).is_err() {
                    break;
                }
            }
            let _ = a.send_to(&STOP, b_addr);
        });
        let pinned = pinned_rx.iter().take(2).all(|ok| ok)
            && !(placement == Placement::CrossCpu && cpus.len() < 2);
        Self {
            placement,
            pinned,
            bursts: Some(bursts),
            results,
            threads: vec![ping, echo],
            samples: Vec::new(),
        }
    }

    /// Takes `n` round trips now and keeps them.
    pub(crate) fn burst(&mut self, n: usize) {
        if let Some(tx) = &self.bursts
            && tx.send(n).is_ok()
            && let Ok(v) = self.results.recv()
        {
            self.samples.extend(v);
        }
    }

    /// Sorted samples so far (µs).
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.samples.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Median round trip so far (µs).
    pub(crate) fn median_us(&self) -> f64 {
        percentile(&self.sorted(), 0.5)
    }

    /// One report line: placement, sample count, p10 / p50 / p90.
    pub(crate) fn summary(&self) -> String {
        let v = self.sorted();
        format!(
            "{:<10} {:>6} samples  p10 {:5.1}  p50 {:5.1}  p90 {:5.1} us{}",
            self.placement.label(),
            v.len(),
            percentile(&v, 0.1),
            percentile(&v, 0.5),
            percentile(&v, 0.9),
            if self.pinned || self.placement == Placement::Unpinned {
                ""
            } else {
                "  (pinning refused: unpinned)"
            }
        )
    }
}

impl Drop for RttProbe {
    fn drop(&mut self) {
        self.bursts = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Median time of one ECDSA P-256 verification (the resolver's check of a
/// CPA signature) over `n` verifications, in µs, with the daemon's verifier.
fn verify_us(n: usize) -> f64 {
    use pnrp::crypto::{P256Signer, P256Verifier, Signer as _, Verifier as _};
    let signer = P256Signer::from_scalar_bytes(&[7; 32]).expect("valid scalar");
    // About the size of the signed part of a CPA with one endpoint.
    let msg = [0x5au8; 200];
    let sig = signer.sign(&msg);
    let key = signer.public_key();
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let ok = P256Verifier.verify(&key, std::hint::black_box(&msg), &sig);
            let us = t.elapsed().as_secs_f64() * 1e6;
            assert!(ok.is_ok(), "verification failed");
            us
        })
        .collect();
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Verifications timed after each resolution for the anchors' floor.
const VERIFY_BURST: usize = 2;

/// Round trips per probe taken after each resolution.
const RTT_BURST: usize = 8;

/// `pnrp-bench rtt`: the floor's round-trip probes alone, `rounds` bursts of
/// [`RTT_BURST`] each, spaced like resolutions (about 0.3 ms apart).
pub(crate) fn rtt_only(rounds: usize) {
    let mut probes: Vec<RttProbe> = Placement::ALL.into_iter().map(RttProbe::new).collect();
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_micros(300));
        for p in &mut probes {
            p.burst(RTT_BURST);
        }
    }
    println!("# loopback UDP round trip, {rounds} bursts of {RTT_BURST}");
    for p in &probes {
        println!("{}", p.summary());
    }
}

/// Runs the benchmark and prints its report.
pub(crate) fn run(o: &CloudOptions) {
    let dir = std::env::temp_dir().join(format!("pnrp-bench-cloud-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "# cloud: {} pnrpd in a private cloud on 127.0.x.y, {} resolutions",
        o.nodes, o.resolutions
    );
    let t0 = Instant::now();
    let mut procs = Vec::new();
    let seed = "127.0.1.10:4000".to_string();
    for i in 0..o.nodes {
        let p = start(&dir, i, (i > 0).then_some(seed.as_str()));
        let r = ask(
            &p.runtime.join("control.sock"),
            &Request::Register {
                name: format!("0.node{i}"),
                endpoints: vec![ipc::EndpointSpec {
                    addr: format!("10.0.{}.{}", i / 250, i % 250),
                    port: 8000,
                    proto: "tcp".into(),
                }],
                comment: None,
                payload: None,
                cloud: None,
            },
        );
        assert!(
            matches!(r, Response::Registered { .. }),
            "register {i}: {r:?}"
        );
        procs.push(p);
    }
    println!(
        "started and registered in {:.1} s; settling {} s",
        t0.elapsed().as_secs_f64(),
        o.settle_s
    );
    std::thread::sleep(Duration::from_secs(o.settle_s));
    let idle_rss: Vec<u64> = procs.iter().map(|p| rss_kb(p.child.id())).collect();
    let client = start(&dir, o.nodes, Some(&seed));
    std::thread::sleep(Duration::from_secs_f64(o.client_wait_s));
    let lookup = client.runtime.join("lookup.sock");
    let mut stream = UnixStream::connect(&lookup).expect("lookup socket");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut lat = Vec::with_capacity(o.resolutions);
    let mut exchanges = Vec::new();
    let mut ok = 0usize;
    let mut failures: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    // (resolution index, node, ms since the first resolution, latency, message)
    let mut failed: Vec<(usize, usize, f64, f64, String)> = Vec::new();
    let first = Instant::now();
    let mut probes: Vec<RttProbe> = Placement::ALL.into_iter().map(RttProbe::new).collect();
    let mut verify = Vec::with_capacity(o.resolutions);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for n in 0..o.resolutions {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % o.nodes as u64) as usize;
        let req = Request::Resolve {
            name: format!("node{i}.pnrp.net"),
            cloud: None,
            max: 1,
            timeout_ms: 5_000,
        };
        let t = Instant::now();
        let r = ipc::exchange(&mut stream, &req).expect("client answers");
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        match r {
            Response::Resolved { results }
                if results[0].endpoints[0].addr == format!("10.0.{}.{}", i / 250, i % 250) =>
            {
                ok += 1;
                exchanges.push(f64::from(results[0].hops) + 1.0);
            }
            Response::Error { kind, message } => {
                *failures.entry(format!("{kind:?}")).or_default() += 1;
                failed.push((n, i, since(first), lat[n], message));
            }
            other => {
                *failures.entry("wrong answer".into()).or_default() += 1;
                failed.push((n, i, since(first), lat[n], format!("{other:?}")));
            }
        }
        // The floor's round trips, under the same load, between resolutions.
        for p in &mut probes {
            p.burst(RTT_BURST);
        }
        verify.push(verify_us(VERIFY_BURST));
    }
    let rtt = probes[0].median_us();
    verify.sort_by(f64::total_cmp);
    let verify_us = percentile(&verify, 0.5);
    lat.sort_by(f64::total_cmp);
    let mean_exchanges = exchanges.iter().sum::<f64>() / exchanges.len().max(1) as f64;
    let floor_ms = mean_exchanges * rtt / 1e3;
    let p50 = percentile(&lat, 0.5);
    let p99 = percentile(&lat, 0.99);
    let mut rss = idle_rss.clone();
    rss.sort_unstable();
    println!(
        "success              {ok}/{} ({:.2} %)",
        o.resolutions,
        100.0 * ok as f64 / o.resolutions as f64
    );
    if !failures.is_empty() {
        println!("failures             {failures:?}");
        // Each failed name once more: a transient miss or a lasting one?
        for (n, i, at, ms, message) in &failed {
            let again = ipc::exchange(
                &mut stream,
                &Request::Resolve {
                    name: format!("node{i}.pnrp.net"),
                    cloud: None,
                    max: 1,
                    timeout_ms: 5_000,
                },
            )
            .map(|r| match r {
                Response::Resolved { results } => {
                    format!(
                        "found in {} hops via {:?}",
                        results[0].hops, results[0].path
                    )
                }
                other => format!("{other:?}"),
            });
            println!(
                "  #{n} node{i} at {at:.0} ms, {ms:.1} ms: {message}; again now: {}",
                again.unwrap_or_else(|e| e.to_string())
            );
        }
    }
    println!("latency p50          {p50:.3} ms");
    println!("latency p99          {p99:.3} ms");
    let slow = lat.iter().filter(|&&ms| ms > 500.0).count();
    println!(
        "latency max          {:.3} ms ({slow} over 500 ms: a lost datagram waits out a 1 s retransmission)",
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!("exchanges/resolution {mean_exchanges:.2} (LOOKUP hops + INQUIRE)");
    println!(
        "loopback RTT         blocking UDP ping-pong between two threads, {RTT_BURST} round trips \
         after every resolution:"
    );
    for p in &probes {
        println!("  {}", p.summary());
    }
    println!(
        "floor                {floor_ms:.3} ms = {mean_exchanges:.2} exchanges x {rtt:.1} us \
         (cross-CPU RTT p50): the network time alone, no daemon work, no IPC"
    );
    println!("p50 / floor          {:.1}x", p50 / floor_ms);
    let anchors_ms = floor_ms + verify_us / 1e3;
    println!(
        "anchors' floor       {anchors_ms:.3} ms = floor + one P-256 verify ({verify_us:.1} us p50, \
         timed after every resolution): perf-anchors.md (b)"
    );
    println!("p50 / anchors' floor {:.1}x", p50 / anchors_ms);
    let same_ms = mean_exchanges * probes[1].median_us() / 1e3;
    println!(
        "p50 / same-CPU floor {:.1}x (floor {same_ms:.3} ms: the RTT if every hop stayed on one CPU)",
        p50 / same_ms
    );
    println!(
        "idle RSS             median {:.1} MB, max {:.1} MB",
        rss[rss.len() / 2] as f64 / 1024.0,
        rss[rss.len() - 1] as f64 / 1024.0
    );
    drop(client);
    drop(procs);
    if std::env::var_os(LOG_ENV).is_some() {
        println!(
            "logs                 {}/log<i>.txt (client: log{})",
            dir.display(),
            o.nodes
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
