//! `pnrp-bench dns`: the DNS stub for `*.pnrp.net` against unbound serving
//! the same names as `local-data`, measured in one run (issue #6).
//!
//! Set-up: `--publishers` pnrpd nodes in a private loopback cloud publish
//! `--names` names `0.peerN` (`peerN.pnrp.net`, address `10.x.y.z` from N),
//! each holding at most `--per-publisher`; one more pnrpd, pinned to CPU 1,
//! serves the stub and has never seen the names. A warm-up asks the stub for
//! every name once (each is a real cloud resolution with signature checks)
//! and checks every answer; the stub's memory per name is its RSS growth
//! over the warm-up divided by the names. The stub's TTL is raised to one
//! hour (`--dns-ttl`) so the measured runs are served from its cache, like
//! unbound's local-data. unbound 1.17 (`num-threads: 1`) gets the same names
//! as `local-data`, also pinned to CPU 1; dnsperf runs on CPU 0.
//!
//! The stub runs with `--dns-poll-us 1000` (`--poll-us`): after answering,
//! its UDP thread polls the socket for 1 ms before it sleeps, unless
//! questions arrive faster than 50,000 a second (then it takes them in
//! batches). On this kind of virtual machine an idle vCPU halts and waking it
//! costs tens of µs, now and then milliseconds. With a 100 µs window the
//! thread still fell asleep between dnsperf's questions often enough to put
//! those wake-ups in the p99; docs/dns.md has the measurements.
//!
//! Measured per server, interleaved, `--rounds` times (medians reported):
//! saturating qps (`dnsperf -l SECS -q 100`), server CPU per answered query
//! (utime+stime of the server process over the saturating run, from
//! `/proc/PID/stat`), and p50/p99/p99.9 latency at a fixed 20,000 qps, taken
//! two ways: by a probe on CPU 0 that stamps each send and takes each
//! answer's arrival from the kernel (`SO_TIMESTAMPNS`; see
//! [`probe_latency`]), and by `dnsperf -Q 20000 -v`, whose per-query times
//! also hold dnsperf's own waits (its sending and receiving threads share
//! CPU 0). Both are also run against a zero-work reflector polling on CPU 1
//! (the floor: loopback path and load generator alone), and the server's
//! CPU share at that rate is printed. Targets (issue #6): CPU per query ≤
//! 0.72× unbound's, saturating qps ≥ 1.2× unbound's, p99 at 20 k qps ≤
//! 100 µs, memory per name ≤ 96 bytes.

use std::io::Write as _;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::percentile;

/// `pnrp-bench dns` options.
#[derive(Debug, Clone)]
pub(crate) struct DnsOptions {
    pub(crate) names: usize,
    pub(crate) per_publisher: usize,
    pub(crate) seconds: u32,
    pub(crate) latency_qps: u32,
    pub(crate) rounds: usize,
    /// The stub's `--dns-poll-us`.
    pub(crate) poll_us: u32,
}

impl Default for DnsOptions {
    fn default() -> Self {
        Self {
            names: 100_000,
            per_publisher: 1_000,
            seconds: 10,
            latency_qps: 20_000,
            rounds: 3,
            poll_us: 1_000,
        }
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn addr_of(i: usize) -> [u8; 4] {
    [10, (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

fn pnrpd(dir: &Path, tag: &str, listen: &str, seed: Option<&str>, extra: &[&str]) -> Proc {
    let runtime = dir.join(format!("r-{tag}"));
    // The stub is pinned to CPU 1; the publishers may run anywhere (they
    // are idle while the servers are measured).
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(if tag == "stub" { "1" } else { "0,1" })
        .arg(bin_dir().join("pnrpd"))
        .args(["--cloud", "bench", "--listen", listen, "--no-link-local"])
        .args(["--log", "error"])
        .arg("--state-dir")
        .arg(dir.join(format!("s-{tag}")))
        .arg("--runtime-dir")
        .arg(&runtime)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(s) = seed {
        cmd.args(["--seed", s]);
    }
    let p = Proc(cmd.spawn().expect("pnrpd starts (cargo build --release)"));
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if std::os::unix::net::UnixStream::connect(runtime.join("control.sock")).is_ok() {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("pnrpd {tag} did not come up");
}

/// The pid of the process `taskset` execs into (same pid).
fn pid(p: &Proc) -> u32 {
    p.0.id()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// utime + stime of a process, in seconds.
fn cpu_s(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

fn query(id: u16, i: usize) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let label = format!("peer{i}");
    m.push(label.len() as u8);
    m.extend_from_slice(label.as_bytes());
    m.extend_from_slice(b"\x04pnrp\x03net\x00\x00\x01\x00\x01");
    m
}

/// Asks the stub for every name, at most `window` at a time and `rate`
/// per second (the caller passes 10 a second per publisher, well inside the
/// engines' per-source limits of docs/protocol.md D20), in an order that spreads
/// the questions over the publishers; names not answered are asked again
/// after the negative TTL, up to ten passes. Returns how many were answered
/// with their own address.
fn warm_up(server: &str, order: &[usize], rate: f64) -> usize {
    let names = order.len();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.connect(server).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut ok = vec![false; names];
    let window = 48usize;
    let start = Instant::now();
    let mut sent = 0f64;
    let mut rcodes = [0usize; 5];
    for round in 0..10 {
        let todo: Vec<usize> = order.iter().copied().filter(|&i| !ok[i]).collect();
        if todo.is_empty() {
            break;
        }
        if round > 0 {
            println!(
                "  warm-up pass {round}: {} of {names} answered after {:.0} s, rcodes {rcodes:?} (NOERROR, SERVFAIL, NXDOMAIN, other, lost)",
                names - todo.len(),
                start.elapsed().as_secs_f64()
            );
            if rcodes[2] > 0 {
                // Past the stub's negative TTL (10 s).
                std::thread::sleep(Duration::from_secs(11));
            }
            rcodes = [0; 5];
        }

        // id → name index of the outstanding queries.
        let mut slots: Vec<Option<(usize, Instant)>> = vec![None; 65_536];
        let mut outstanding = 0usize;
        let mut next = 0usize;
        let mut id: u16 = 0;
        let mut buf = [0u8; 1500];
        while next < todo.len() || outstanding > 0 {
            while outstanding < window
                && next < todo.len()
                && sent < start.elapsed().as_secs_f64() * rate
            {
                id = id.wrapping_add(1);
                if slots[usize::from(id)].is_some() {
                    continue;
                }
                let i = todo[next];
                next += 1;
                sent += 1.0;
                if sock.send(&query(id, i)).is_ok() {
                    slots[usize::from(id)] = Some((i, Instant::now()));
                    outstanding += 1;
                }
            }
            match sock.recv(&mut buf) {
                Ok(n) if n >= 12 => {
                    let rid = u16::from_be_bytes([buf[0], buf[1]]);
                    if let Some((i, _)) = slots[usize::from(rid)].take() {
                        outstanding -= 1;
                        let rcode = buf[3] & 0x0F;
                        rcodes[match rcode {
                            0 => 0,
                            2 => 1,
                            3 => 2,
                            _ => 3,
                        }] += 1;
                        if rcode == 0 && n >= 4 && buf[n - 4..n] == addr_of(i) {
                            ok[i] = true;
                        }
                    }
                }
                Ok(_) => {}
                Err(_) if outstanding == 0 => {}
                Err(_) => {
                    // Give up on queries older than 3 s (lost).
                    for s in &mut slots {
                        if s.is_some_and(|(_, t)| t.elapsed() > Duration::from_secs(3)) {
                            *s = None;
                            outstanding -= 1;
                            rcodes[4] += 1;
                        }
                    }
                }
            }
        }
    }
    ok.iter().filter(|&&b| b).count()
}

struct Perf {
    qps: f64,
    completed: u64,
    cpu_us_per_q: f64,
}

fn dnsperf_saturate(server: &str, port: &str, file: &Path, secs: u32, server_pid: u32) -> Perf {
    let c0 = cpu_s(server_pid);
    let out = Command::new("taskset")
        .args(["-c", "0", "dnsperf", "-s", server, "-p", port, "-q", "100"])
        .arg("-l")
        .arg(secs.to_string())
        .arg("-d")
        .arg(file)
        .output()
        .expect("dnsperf runs");
    let cpu = cpu_s(server_pid) - c0;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let completed = field("Queries completed") as u64;
    Perf {
        qps: field("Queries per second"),
        completed,
        cpu_us_per_q: cpu * 1e6 / (completed.max(1) as f64),
    }
}

/// Per-query latencies (µs) at a fixed rate.
fn dnsperf_latency(server: &str, port: &str, file: &Path, qps: u32) -> Vec<f64> {
    let out = Command::new("taskset")
        .args(["-c", "0", "dnsperf", "-s", server, "-p", port, "-q", "100"])
        .args(["-l", "5", "-v"])
        .arg("-Q")
        .arg(qps.to_string())
        .arg("-d")
        .arg(file)
        .output()
        .expect("dnsperf runs");
    let mut v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("> "))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|s| s * 1e6)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn unbound(dir: &Path, listen_ip: &str, port: &str, names: usize, tag: &str) -> Proc {
    let conf = dir.join(format!("unbound-{tag}.conf"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&conf).expect("conf"));
    let _ = write!(
        f,
        "server:\n  interface: {listen_ip}\n  port: {port}\n  do-daemonize: no\n  \
         username: \"\"\n  chroot: \"\"\n  directory: \"{}\"\n  pidfile: \"\"\n  \
         use-syslog: no\n  logfile: \"\"\n  num-threads: 1\n  do-ip6: no\n  \
         access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n  \
         local-zone: \"pnrp.net.\" static\n",
        dir.display()
    );
    for i in 0..names {
        let a = addr_of(i);
        let _ = writeln!(
            f,
            "  local-data: \"peer{i}.pnrp.net. 10 IN A {}.{}.{}.{}\"",
            a[0], a[1], a[2], a[3]
        );
    }
    drop(f);
    let p = Proc(
        Command::new("taskset")
            .args(["-c", "1", "unbound", "-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts"),
    );
    // Ready when it answers.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let t = Instant::now();
    let mut buf = [0u8; 512];
    while t.elapsed() < Duration::from_secs(60) {
        let _ = sock.send_to(&query(7, 0), format!("{listen_ip}:{port}"));
        if sock.recv(&mut buf).is_ok() {
            return p;
        }
    }
    panic!("unbound did not come up");
}

/// Runs the benchmark and prints the table.
pub(crate) fn run(o: &DnsOptions) {
    for tool in ["dnsperf", "unbound", "taskset"] {
        assert!(
            have(tool),
            "`{tool}` is needed (apt-get install dnsperf unbound util-linux)"
        );
    }
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("pnrp-bench-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let publishers = o.names.div_ceil(o.per_publisher).max(1);
    println!(
        "DNS stub vs unbound: {} names on {publishers} publishers; stub and unbound pinned to CPU 1, dnsperf to CPU 0",
        o.names
    );
    let conf = dir.join("publisher.toml");
    std::fs::write(
        &conf,
        format!("max_registrations = {}\n", o.per_publisher + 16),
    )
    .expect("config");
    let conf_s = conf.display().to_string();
    let t0 = Instant::now();
    let mut pubs = Vec::new();
    let seed = "127.0.4.10:4000".to_owned();
    for p in 0..publishers {
        let listen = format!("127.0.{}.{}:4000", 4 + p / 200, 10 + p % 200);
        let s = (p > 0).then_some(seed.as_str());
        pubs.push(pnrpd(
            &dir,
            &format!("p{p}"),
            &listen,
            s,
            &["--no-dns", "--config", &conf_s],
        ));
    }
    let stub_dns = "127.0.4.5:5300";
    let stub = pnrpd(
        &dir,
        "stub",
        "127.0.4.5:4000",
        Some(&seed),
        &[
            "--dns-listen",
            stub_dns,
            "--dns-ttl",
            "3600",
            "--dns-poll-us",
            &o.poll_us.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_secs(3));
    // Register, one thread per publisher.
    let threads: Vec<_> = (0..publishers)
        .map(|p| {
            let runtime = dir.join(format!("r-p{p}"));
            let (names, per) = (o.names, o.per_publisher);
            std::thread::spawn(move || {
                let c = pnrp::client::Client::new(&runtime);
                // A registration that fails (its publication walk timed
                // out on a loaded machine) is tried again, up to 3 times.
                let mut todo: Vec<usize> = ((p * per)..((p + 1) * per).min(names)).collect();
                for _ in 0..3 {
                    todo.retain(|&i| {
                        let a = addr_of(i);
                        let addr = format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
                        c.register(&format!("0.peer{i}"), &[addr.as_str()], None)
                            .is_err()
                    });
                }
                todo.len()
            })
        })
        .collect();
    let failed: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    println!(
        "registered {} names in {:.0} s ({failed} failed)",
        o.names - failed,
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    let stub_pid = pid(&stub);
    let rss_before = rss_kb(stub_pid);
    let t1 = Instant::now();
    // Publisher-interleaved order: name k of publisher 0, of publisher 1…
    let order: Vec<usize> = (0..o.per_publisher)
        .flat_map(|k| (0..publishers).map(move |p| p * o.per_publisher + k))
        .filter(|&i| i < o.names)
        .collect();
    let answered = warm_up(stub_dns, &order, 10.0 * publishers as f64);
    let rss_after = rss_kb(stub_pid);
    let per_name = (rss_after.saturating_sub(rss_before) * 1024) as f64 / o.names as f64;
    println!(
        "warm-up: {answered}/{} names resolved through the cloud and answered correctly in {:.0} s; stub RSS {rss_before} → {rss_after} kB ({per_name:.0} B/name)",
        o.names,
        t1.elapsed().as_secs_f64()
    );

    // The same names in unbound, and an empty unbound for its baseline.
    let ub_empty = unbound(&dir, "127.0.4.6", "5300", 0, "empty");
    let ub_empty_rss = rss_kb(pid(&ub_empty));
    drop(ub_empty);
    let ub = unbound(&dir, "127.0.4.6", "5300", o.names, "full");
    let ub_pid = pid(&ub);
    let ub_per_name = (rss_kb(ub_pid).saturating_sub(ub_empty_rss) * 1024) as f64 / o.names as f64;

    // 200,000 random questions from the set.
    let qfile = dir.join("queries.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&qfile).expect("queries"));
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let _ = writeln!(f, "peer{}.pnrp.net A", x as usize % o.names);
        }
    }
    // The publishers stand for other machines: once the stub has every
    // answer cached they are shut down for the measured rounds. Merely
    // stopping them (SIGSTOP, as this benchmark did before) left their
    // memory to the kernel's background scanners, and with 100 of them
    // the latency of even a zero-work reflector had p99s over 1 ms
    // (unbound's 1.2-1.5 ms; 96-141 µs without them).
    drop(pubs);
    let mut sat = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    // [stub, unbound, reflector] × (dnsperf latencies, probe latencies).
    let mut lat: [(Vec<f64>, Vec<f64>); 3] = Default::default();
    let mut cpu_at_rate = [Vec::new(), Vec::new()];
    let servers = [("stub", "127.0.4.5"), ("unbound", "127.0.4.6")];
    let pids = [stub_pid, ub_pid];
    for r in 0..o.rounds {
        let mut line = format!("round {}:", r + 1);
        for (k, (name, ip)) in servers.iter().enumerate() {
            let p = dnsperf_saturate(ip, "5300", &qfile, o.seconds, pids[k]);
            line += &format!(
                " {name} {:.0} qps, {:.2} µs CPU/query ({} answered);",
                p.qps, p.cpu_us_per_q, p.completed
            );
            sat[k].0.push(p.qps);
            sat[k].1.push(p.cpu_us_per_q);
        }
        println!("{line}");
        for (k, (name, ip)) in servers
            .iter()
            .chain([&("reflector", "127.0.4.7")])
            .enumerate()
        {
            // The reflector spins on CPU 1: it runs only for its own turn.
            let reflector = (k == 2).then(|| Reflector::start(&format!("{ip}:5300")));
            let d = dnsperf_latency(ip, "5300", &qfile, o.latency_qps);
            let c0 = pids.get(k).map(|&p| cpu_s(p));
            let (kp, lost) = pinned_probe(&format!("{ip}:5300"), o);
            drop(reflector);
            if let (Some(c0), Some(&p)) = (c0, pids.get(k)) {
                cpu_at_rate[k].push((cpu_s(p) - c0) / PROBE_SECONDS);
            }
            println!(
                "  {name} at {} qps: dnsperf p50 / p99 / p99.9 {:.0} / {:.0} / {:.0} µs; probe {}",
                o.latency_qps,
                percentile(&d, 0.5),
                percentile(&d, 0.99),
                percentile(&d, 0.999),
                latency_summary(&kp, lost)
            );
            lat[k].0.extend(d);
            lat[k].1.extend(kp);
        }
    }
    for l in &mut lat {
        l.0.sort_by(f64::total_cmp);
        l.1.sort_by(f64::total_cmp);
    }
    let (q_o, c_o) = (median(sat[0].0.clone()), median(sat[0].1.clone()));
    let (q_t, c_t) = (median(sat[1].0.clone()), median(sat[1].1.clone()));
    let three = |v: &[f64]| {
        format!(
            "{:.0} / {:.0} / {:.0} µs",
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 0.999)
        )
    };
    println!();
    println!(
        "stub: pnrpd --dns-ttl 3600 --dns-poll-us {}; floor: a zero-work reflector polling on CPU 1",
        o.poll_us
    );
    println!("| | pnrp stub | unbound 1.17 | floor | ratio | target |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| saturating qps (median of {}) | {q_o:.0} | {q_t:.0} | | {:.2}× | ≥ 1.2× |",
        o.rounds,
        q_o / q_t
    );
    println!(
        "| server CPU per query | {c_o:.2} µs | {c_t:.2} µs | | {:.2}× | ≤ 0.72× |",
        c_o / c_t
    );
    // One latency row: stub, unbound, reflector, then stub/unbound at p99.
    let latency_row = |label: &str, v: [&[f64]; 3], target: &str| {
        println!(
            "| {label} | {} | {} | {} | p99 {:.2}× | {target} |",
            three(v[0]),
            three(v[1]),
            three(v[2]),
            percentile(v[0], 0.99) / percentile(v[1], 0.99)
        );
    };
    latency_row(
        &format!(
            "latency at {} qps p50 / p99 / p99.9, probe with kernel receive stamps (all rounds)",
            o.latency_qps
        ),
        [&lat[0].1, &lat[1].1, &lat[2].1],
        "p99 ≤ 100 µs",
    );
    latency_row(
        "the same measured by dnsperf -v (its threads share CPU 0)",
        [&lat[0].0, &lat[1].0, &lat[2].0],
        "",
    );
    println!(
        "| server CPU at {} qps (median) | {:.0} % | {:.0} % | | | |",
        o.latency_qps,
        100.0 * median(cpu_at_rate[0].clone()),
        100.0 * median(cpu_at_rate[1].clone())
    );
    println!(
        "| memory per name | {per_name:.0} B | {ub_per_name:.0} B | | {:.2}× | ≤ 96 B |",
        per_name / ub_per_name
    );
    drop(ub);
    drop(stub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Per-query latencies (µs) at a fixed rate, measured by the kernel: one
/// thread sends `qps` queries a second for `secs` seconds to `server` (a
/// busy loop on its own CPU, reading `CLOCK_REALTIME` just before each
/// send) and takes each answer's arrival time from the socket's
/// `SO_TIMESTAMPNS` stamp — the moment the answer reached the client's
/// socket, whatever the client was doing then. So the figure is the
/// server and the loopback path, not the load generator's own scheduling
/// (dnsperf's receiving thread shares CPU 0 with its sending thread, and
/// its per-query timestamps include waits for that CPU). Questions are
/// the names `peer0..names` in a fixed pseudo-random order. Lost answers
/// (none expected) are counted in the second value. With `PNRP_PROBE_DUMP`
/// set, every answer's (send time, latency) in µs goes to `probe-series.txt`
/// in the working directory, headed by the clock offset that matches it to
/// a `perf record -k mono` trace.
pub(crate) fn probe_latency(server: &str, names: usize, qps: u32, secs: f64) -> (Vec<f64>, usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.connect(server).expect("connect");
    sock.set_nonblocking(true).expect("nonblocking");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with an int option.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            std::ptr::addr_of!(on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_TIMESTAMPNS");
    let now_ns = || clock_ns(libc::CLOCK_REALTIME);
    let total = (f64::from(qps) * secs) as usize;
    let names = names.max(1);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let packets: Vec<Vec<u8>> = (0..total.min(65_536))
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            query(k as u16, x as usize % names)
        })
        .collect();
    let mut sent_at: Vec<Option<i128>> = vec![None; 65_536];
    let mut outstanding = 0usize;
    let mut lat = Vec::with_capacity(total);
    let step = 1e9 / f64::from(qps.max(1));
    let start = now_ns();
    let deadline = start + ((secs + 1.0) * 1e9) as i128;
    let mut k = 0usize;
    let mut buf = [0u8; 1500];
    let mut cmsg = [0u64; 16];
    // PNRP_PROBE_DUMP=1: (send µs, latency µs) per answer to probe-series.txt.
    let dump = std::env::var_os("PNRP_PROBE_DUMP").is_some();
    let mut series = Vec::new();
    loop {
        let now = now_ns();
        if k < total && now >= start + (k as f64 * step) as i128 {
            let p = &packets[k % packets.len()];
            let id = usize::from(u16::from_be_bytes([p[0], p[1]]));
            if sent_at[id].is_some() {
                outstanding -= 1; // never answered: counted as lost
            }
            sent_at[id] = Some(now);
            if sock.send(p).is_ok() {
                outstanding += 1;
            } else {
                sent_at[id] = None;
            }
            k += 1;
            continue;
        }
        if (k >= total && outstanding == 0) || now > deadline {
            break;
        }
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&cmsg);
        // SAFETY: msg points at buffers that outlive the call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 12 {
            continue;
        }
        let id = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        let mut stamp = None;
        // SAFETY: the CMSG macros walk the control buffer the kernel filled.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    stamp = Some(i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if let (Some(t), Some(s)) = (stamp, sent_at[id].take()) {
            outstanding -= 1;
            lat.push((t - s) as f64 / 1e3);
            if dump {
                series.push(((s - start) as f64 / 1e3, (t - s) as f64 / 1e3));
            }
        }
    }
    if dump {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let mut text = format!(
            "# start {start} realtime-minus-monotonic {}\n",
            now_ns() - mono
        );
        text.extend(series.iter().map(|(s, l)| format!("{s:.1} {l:.1}\n")));
        let _ = std::fs::write("probe-series.txt", text);
    }
    lat.sort_by(f64::total_cmp);
    (lat, outstanding)
}

/// Seconds of each probe run.
const PROBE_SECONDS: f64 = 5.0;

/// Nanoseconds on `clock`.
fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Kernel-timestamped latency percentiles, one line.
pub(crate) fn latency_summary(lat: &[f64], lost: usize) -> String {
    format!(
        "{} answers, {lost} lost; p50 / p90 / p99 / p99.9 / max {:.0} / {:.0} / {:.0} / {:.0} / {:.0} µs",
        lat.len(),
        percentile(lat, 0.5),
        percentile(lat, 0.9),
        percentile(lat, 0.99),
        percentile(lat, 0.999),
        lat.last().copied().unwrap_or(f64::NAN)
    )
}

/// `probe_latency` on CPU 0 (the benchmark's own thread is moved there for
/// the call and back afterwards).
fn pinned_probe(server: &str, o: &DnsOptions) -> (Vec<f64>, usize) {
    set_cpus(&[0]);
    let r = probe_latency(server, o.names, o.latency_qps, PROBE_SECONDS);
    set_cpus(&[0, 1]);
    r
}

/// Pins the calling thread to `cpus`.
fn set_cpus(cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, ..) affects only
    // the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The latency floor: a thread pinned to CPU 1 that polls a UDP socket and
/// sends every DNS question straight back as an answer with no records
/// (QR set) — no lookup, no sleeping, so what remains is the loopback path
/// and the load generator.
struct Reflector {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reflector {
    fn start(addr: &str) -> Self {
        let sock = UdpSocket::bind(addr).expect("reflector binds");
        sock.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            set_cpus(&[1]);
            let mut buf = [0u8; 1500];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) if n >= 12 => {
                        buf[2] |= 0x80;
                        let _ = sock.send_to(&buf[..n], from);
                    }
                    _ => std::hint::spin_loop(),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
