//! `pnrp-bench nss` (issue #5; needs root): `getaddrinfo` through
//! `libnss_pnrp.so.2` for a name registered in a running `pnrpd`, against
//! nss-files answering from a three-line hosts file, in one run, inside a
//! private mount namespace whose `/etc/nsswitch.conf` and `/etc/hosts` are
//! bind-mounted copies. Also the out-of-zone overhead (the module's
//! `gethostbyname4_r` on a name outside `pnrp.net`, i.e. the gate every
//! other name pays) and the daemon-down miss.
//!
//! The first lookup of the name goes to the daemon over `lookup.sock`,
//! which publishes the answer in its host table (`hosts.table`); the timed
//! calls are answered from the table (`docs/nss.md`). For reference the run
//! also times the module's socket path alone (`query_daemon`, one connect and
//! round trip per call, not through glibc), which is what every call cost
//! before the table.

use std::ffi::CString;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pnrp::ipc::{self, Request, Response};

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One getaddrinfo in µs; `None` if it failed.
fn gai(name: &CString) -> Option<f64> {
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: zeroed addrinfo hints are valid.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_socktype = libc::SOCK_STREAM;
    let t = Instant::now();
    // SAFETY: valid NUL-terminated name, hints and out pointer.
    let rc = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    let us = t.elapsed().as_secs_f64() * 1e6;
    if rc == 0 {
        // SAFETY: res came from a successful getaddrinfo.
        unsafe { libc::freeaddrinfo(res) };
        Some(us)
    } else {
        None
    }
}

/// `n` rounds of one `getaddrinfo` per name, interleaved (in rotating
/// order) so that every series sees the same machine (on a shared host the
/// load changes from second to second): (p50, p99, failures) per name.
fn series(names: &[&str], n: usize) -> Vec<(f64, f64, usize)> {
    let names: Vec<CString> = names
        .iter()
        .map(|s| CString::new(*s).expect("name"))
        .collect();
    let mut v = vec![Vec::with_capacity(n); names.len()];
    let mut failed = vec![0; names.len()];
    for round in 0..n {
        // Alternate the order too: no series always runs first.
        for k in 0..names.len() {
            let i = (k + round) % names.len();
            match gai(&names[i]) {
                Some(us) => v[i].push(us),
                None => failed[i] += 1,
            }
        }
    }
    v.iter_mut()
        .zip(failed)
        .map(|(v, failed)| {
            if v.is_empty() {
                (f64::NAN, f64::NAN, failed)
            } else {
                (percentile(v, 0.5), percentile(v, 0.99), failed)
            }
        })
        .collect()
}

/// Bind-mounts the benchmark's nsswitch.conf and hosts over /etc's, inside
/// the private mount namespace this process runs in.
fn bind_mounts(dir: &Path) {
    for (src, dst) in [
        ("nsswitch.conf", "/etc/nsswitch.conf"),
        ("hosts", "/etc/hosts"),
    ] {
        let s = CString::new(dir.join(src).display().to_string()).expect("path");
        let d = CString::new(dst).expect("path");
        // SAFETY: valid strings; a bind mount in our private namespace.
        let rc = unsafe {
            libc::mount(
                s.as_ptr(),
                d.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "bind mount {dst}");
    }
}

/// The part that runs inside `unshare -m`.
pub(crate) fn inner(dir: &Path, n: usize) {
    bind_mounts(dir);
    // Warm both paths (module load, hosts parse).
    let _ = series(&["filehost", "benchhost.pnrp.net"], 100);
    let r = series(&["filehost", "benchhost.pnrp.net"], n);
    let ((f50, f99, ffail), (p50, p99, pfail)) = (r[0], r[1]);
    let (s50, s99) = socket_only(n.min(5000));
    // The gate: the module itself on an out-of-zone name.
    let gate_ns = gate_cost(n * 10);
    println!("nss-files (3-line hosts)   p50 {f50:>7.1} us  p99 {f99:>7.1} us  failures {ffail}");
    println!("pnrp module                p50 {p50:>7.1} us  p99 {p99:>7.1} us  failures {pfail}");
    println!(
        "pnrp / files               p50 {:.2}x  p99 {:.2}x",
        p50 / f50,
        p99 / f99
    );
    println!("out-of-zone overhead       {gate_ns:.0} ns per lookup (module gate)");
    println!(
        "reference: lookup.sock only p50 {s50:>7.1} us  p99 {s99:>7.1} us (query_daemon, no table, no glibc)"
    );
}

/// The module's socket path alone: connect, request, answer, per call.
fn socket_only(n: usize) -> (f64, f64) {
    let socket = nss_pnrp::nss::socket_path();
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let o = nss_pnrp::nss::query_daemon(
            &socket,
            b"benchhost.pnrp.net",
            nss_pnrp::frame::Family::Any,
            Duration::from_secs(2),
        );
        v.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(matches!(o, nss_pnrp::nss::Outcome::Found(_)), "{o:?}");
    }
    (percentile(&mut v, 0.5), percentile(&mut v, 0.99))
}

fn gate_cost(n: usize) -> f64 {
    let name = CString::new("www.example.com").expect("name");
    let mut buf = vec![0u8; 1024];
    let (mut e, mut h) = (0, 0);
    let t = Instant::now();
    for _ in 0..n {
        let mut pat: *mut nss_pnrp::nss::GaihAddrtuple = std::ptr::null_mut();
        // SAFETY: valid pointers and buffer.
        let st = unsafe {
            nss_pnrp::nss::_nss_pnrp_gethostbyname4_r(
                std::hint::black_box(name.as_ptr()),
                &mut pat,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut e,
                &mut h,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(st, nss_pnrp::nss::NSS_STATUS_UNAVAIL);
    }
    t.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// Runs the benchmark (re-executing itself under `unshare -m`).
pub(crate) fn run(n: usize) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("pnrp-bench nss needs root (private mount namespace)");
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("pnrp-bench-nss-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib")).expect("temp dir");
    std::fs::copy(
        bin_dir().join("libnss_pnrp.so"),
        dir.join("lib/libnss_pnrp.so.2"),
    )
    .expect("libnss_pnrp.so (cargo build --release -p nss-pnrp)");
    std::fs::write(
        dir.join("hosts"),
        "127.0.0.1 localhost\n::1 localhost\n10.9.9.9 filehost\n",
    )
    .expect("hosts");
    std::fs::write(
        dir.join("nsswitch.conf"),
        "hosts: files pnrp [NOTFOUND=return] dns\n",
    )
    .expect("nsswitch");
    let run = dir.join("run");
    let mut daemon = Command::new(bin_dir().join("pnrpd"))
        .args([
            "--cloud",
            "bench-nss",
            "--listen",
            "127.0.0.7:0",
            "--no-dns",
            "--no-link-local",
            "--log",
            "error",
        ])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--runtime-dir")
        .arg(&run)
        .stdin(Stdio::null())
        .spawn()
        .expect("pnrpd");
    let t = Instant::now();
    while UnixStream::connect(run.join("control.sock")).is_err()
        && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = UnixStream::connect(run.join("control.sock")).expect("control socket");
    let r = ipc::exchange(
        &mut s,
        &Request::Register {
            name: "0.benchhost".into(),
            endpoints: vec![ipc::EndpointSpec {
                addr: "10.1.2.3".into(),
                port: 0,
                proto: String::new(),
            }],
            comment: None,
            payload: None,
            cloud: None,
        },
    )
    .expect("register");
    assert!(matches!(r, Response::Registered { .. }), "{r:?}");
    println!("# nss: getaddrinfo, {n} calls each, interleaved, same run");
    let me = std::env::current_exe().expect("exe");
    let inner = |label: &str| {
        let out = Command::new("unshare")
            .arg("-m")
            .arg(&me)
            .args(["nss-inner", &dir.display().to_string(), &n.to_string()])
            .env("LD_LIBRARY_PATH", dir.join("lib"))
            .env("PNRP_LOOKUP_SOCKET", run.join("lookup.sock"))
            .output()
            .expect("unshare");
        if !out.status.success() {
            eprintln!("{label}: {}", String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    print!("{}", inner("daemon up"));
    // Daemon down (stopped with SIGTERM, which removes its sockets and host
    // table): a registered name is now a fast miss. After `kill -9` the
    // table would answer for the rest of the TTL (10 s), as a cache does.
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    while matches!(daemon.try_wait(), Ok(None)) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let c = CString::new("benchhost.pnrp.net").expect("name");
    let out = Command::new("unshare")
        .arg("-m")
        .arg(&me)
        .args(["nss-down", &dir.display().to_string()])
        .env("LD_LIBRARY_PATH", dir.join("lib"))
        .env("PNRP_LOOKUP_SOCKET", run.join("lookup.sock"))
        .output()
        .expect("unshare");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Inside the namespace with the daemon gone: time the miss.
pub(crate) fn inner_down(dir: &Path) {
    bind_mounts(dir);
    let c = CString::new("benchhost.pnrp.net").expect("name");
    let mut v = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let ok = gai(&c).is_some();
        assert!(!ok, "daemon down must be a miss");
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let p50 = percentile(&mut v, 0.5);
    let p99 = percentile(&mut v, 0.99);
    println!(
        "daemon-down miss           p50 {p50:.3} ms  p99 {p99:.3} ms (NOTFOUND, no fall-through to dns)"
    );
}
