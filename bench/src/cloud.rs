//! `pnrp-bench cloud` — a real cloud of `pnrpd` processes on 127.0.0.x
//! (issue #4): N daemons in a private cloud, one name registered on each,
//! then a fresh daemon that registers nothing resolves random names through
//! its lookup socket. Prints success, p50 and p99 of the resolution latency
//! (IPC round trip included), and the floor measured in the same run: the
//! mean number of exchanges per resolution (LOOKUP hops + the final INQUIRE)
//! times the loopback UDP round trip (p50 of a ping-pong between two
//! sockets). Also the idle RSS of the daemons.

use std::io::{BufRead as _, BufReader};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pnrp::ipc::{self, Request, Response};

/// Options of the cloud benchmark.
#[derive(Debug, Clone)]
pub(crate) struct CloudOptions {
    pub(crate) nodes: usize,
    pub(crate) resolutions: usize,
    pub(crate) settle_s: u64,
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
    .args(["--log", "error"])
    .arg("--state-dir")
    .arg(dir.join(format!("s{i}")))
    .arg("--runtime-dir")
    .arg(&runtime)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50 loopback UDP round trip in µs (blocking ping-pong, 5,000 rounds).
fn loopback_rtt_us() -> f64 {
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b_addr = b.local_addr().expect("addr");
    let a_addr = a.local_addr().expect("addr");
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        for _ in 0..5_500 {
            match b.recv_from(&mut buf) {
                Ok((n, _)) => {
                    let _ = b.send_to(&buf[..n], a_addr);
                }
                Err(_) => return,
            }
        }
    });
    let msg = [0u8; 200];
    let mut buf = [0u8; 512];
    let mut samples = Vec::with_capacity(5_000);
    for i in 0..5_500 {
        let t = Instant::now();
        a.send_to(&msg, b_addr).expect("send");
        a.recv_from(&mut buf).expect("recv");
        if i >= 500 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let _ = echo.join();
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 0.5)
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
    std::thread::sleep(Duration::from_secs(2));
    let lookup = client.runtime.join("lookup.sock");
    let mut stream = UnixStream::connect(&lookup).expect("lookup socket");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut lat = Vec::with_capacity(o.resolutions);
    let mut exchanges = Vec::new();
    let mut ok = 0usize;
    let mut failures: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..o.resolutions {
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
            Response::Error { kind, .. } => *failures.entry(format!("{kind:?}")).or_default() += 1,
            _ => *failures.entry("wrong answer".into()).or_default() += 1,
        }
    }
    let rtt = loopback_rtt_us();
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
    }
    println!("latency p50          {p50:.3} ms");
    println!("latency p99          {p99:.3} ms");
    println!("exchanges/resolution {mean_exchanges:.2} (LOOKUP hops + INQUIRE)");
    println!("loopback RTT p50     {rtt:.1} us");
    println!("floor                {floor_ms:.3} ms (exchanges x RTT)");
    println!("p50 / floor          {:.1}x", p50 / floor_ms);
    println!(
        "idle RSS             median {:.1} MB, max {:.1} MB",
        rss[rss.len() / 2] as f64 / 1024.0,
        rss[rss.len() - 1] as f64 / 1024.0
    );
    drop(client);
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
