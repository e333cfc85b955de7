//! Test support: real `pnrpd` processes on loopback, driven through the
//! real `pnrp` command line. Every wait is a bounded poll.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of it"
)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Option<Child>,
    pub state: PathBuf,
    pub runtime: PathBuf,
    pub listen: String,
    pub seeds: Vec<String>,
    pub extra: Vec<String>,
    /// The DNS stub's address (`--dns-listen`), or `None` for `--no-dns`.
    pub dns: Option<String>,
}

/// A free UDP port on `ip` (bind :0, read it back, release it).
pub fn free_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Daemon {
    pub fn start(dir: &Path, n: usize, seeds: &[String]) -> Self {
        let mut d = Self::new(dir, n, seeds);
        d.spawn();
        d
    }

    /// Like [`Daemon::start`], with the DNS stub on a free port of the
    /// daemon's own address.
    pub fn start_with_dns(dir: &Path, n: usize, seeds: &[String]) -> Self {
        Self::start_with_dns_and(dir, n, seeds, &[])
    }

    /// Like [`Daemon::start_with_dns`], with more `pnrpd` arguments.
    pub fn start_with_dns_and(dir: &Path, n: usize, seeds: &[String], extra: &[&str]) -> Self {
        let mut d = Self::new(dir, n, seeds);
        d.extra = extra.iter().map(|&a| a.to_owned()).collect();
        let ip = d
            .listen
            .rsplit_once(':')
            .map(|(ip, _)| ip.to_owned())
            .unwrap();
        d.dns = Some(format!("{ip}:{}", free_port(&ip)));
        d.spawn();
        d
    }

    fn new(dir: &Path, n: usize, seeds: &[String]) -> Self {
        let ip = format!("127.0.0.{}", 10 + n);
        let listen = format!("{ip}:{}", free_port(&ip));
        Self {
            child: None,
            state: dir.join(format!("state{n}")),
            runtime: dir.join(format!("run{n}")),
            listen,
            seeds: seeds.to_vec(),
            extra: Vec::new(),
            dns: None,
        }
    }

    pub fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pnrpd"));
        cmd.args([
            "--cloud",
            "lab",
            "--listen",
            &self.listen,
            "--no-link-local",
        ])
        .arg("--state-dir")
        .arg(&self.state)
        .arg("--runtime-dir")
        .arg(&self.runtime)
        .args(["--log", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        for s in &self.seeds {
            cmd.args(["--seed", s]);
        }
        match &self.dns {
            Some(addr) => cmd.args(["--dns-listen", addr]),
            None => cmd.arg("--no-dns"),
        };
        cmd.args(&self.extra);
        self.child = Some(cmd.spawn().expect("pnrpd starts"));
        // Ready when the control socket answers `status`.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.pnrp(&["status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pnrpd at {} did not come up", self.listen);
    }

    pub fn pnrp(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pnrp"))
            .arg("--runtime-dir")
            .arg(&self.runtime)
            .args(args)
            .output()
            .expect("pnrp runs")
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc_kill(c.id() as i32, 15);
            }
            let _ = c.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Resolves until it succeeds or `limit` passes (the cloud needs a moment
/// to learn a new registration); returns the last output.
pub fn resolve_until(d: &Daemon, name: &str, ok: bool, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        let out = d.pnrp(&["--json", "resolve", name, "--timeout", "3"]);
        if out.status.success() == ok || start.elapsed() > limit {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
