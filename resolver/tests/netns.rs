//! Three network namespaces on a bridge with IPv6 link-local addresses only:
//! `pnrpd` in each, no seeds, no configuration. The `LinkLocal_eth0` cloud
//! must form by SSDP multicast and names must resolve across namespaces
//! (issue #4). Needs root and iproute2: runs for real when `CI=true` (where
//! a missing prerequisite is a failure) and otherwise skips with a reason.
#![allow(
    clippy::disallowed_methods,
    reason = "process-level test: reads clocks like any shell"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn in_ns(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

/// Skips (or, under CI, fails) when the test cannot run here.
fn prerequisites() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { geteuid() } != 0 {
        return Err("not root".into());
    }
    if !ip(&["-V"]) {
        return Err("iproute2 (`ip`) is not installed".into());
    }
    Ok(())
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// The namespaces and links; removed on drop.
struct Lab {
    tag: String,
    daemons: Vec<Child>,
}

impl Lab {
    fn ns(&self, i: usize) -> String {
        format!("{}{i}", self.tag)
    }

    fn new(n: usize) -> Self {
        let tag = format!("pnrpt{}n", std::process::id() % 100_000);
        let lab = Self {
            tag,
            daemons: Vec::new(),
        };
        let hub = lab.ns(0);
        assert!(ip(&["netns", "add", &hub]), "ip netns add");
        assert!(ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]));
        assert!(ip(&["-n", &hub, "link", "set", "br0", "up"]));
        for i in 1..=n {
            let ns = lab.ns(i);
            assert!(ip(&["netns", "add", &ns]));
            // Link-local only, no duplicate-address-detection delay.
            for (k, v) in [
                ("net.ipv6.conf.default.accept_dad", "0"),
                ("net.ipv6.conf.all.accept_dad", "0"),
            ] {
                let _ = in_ns(&ns, "sysctl", &["-qw", &format!("{k}={v}")]).status();
            }
            let port = format!("p{i}");
            assert!(ip(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns
            ]));
            assert!(ip(&[
                "-n", &hub, "link", "set", &port, "master", "br0", "up"
            ]));
            assert!(ip(&["-n", &ns, "link", "set", "lo", "up"]));
            assert!(ip(&["-n", &ns, "link", "set", "eth0", "up"]));
        }
        lab
    }

    fn start(&mut self, i: usize, dir: &Path) -> PathBuf {
        let run = dir.join(format!("run{i}"));
        let child = in_ns(
            &self.ns(i),
            env!("CARGO_BIN_EXE_pnrpd"),
            &["--no-dns", "--log", "warn"],
        )
        .arg("--state-dir")
        .arg(dir.join(format!("state{i}")))
        .arg("--runtime-dir")
        .arg(&run)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pnrpd starts");
        self.daemons.push(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if pnrp(&run, &["status"]).status.success() {
                return run;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pnrpd in {} did not come up", self.ns(i));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
        for i in 0..=3 {
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
    }
}

fn pnrp(run: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pnrp"))
        .arg("--runtime-dir")
        .arg(run)
        .args(args)
        .output()
        .expect("pnrp runs")
}

#[test]
fn link_local_cloud_forms_by_multicast_and_resolves_across_namespaces() {
    if let Err(why) = prerequisites() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "CI=true but the netns test cannot run: {why}"
        );
        println!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut lab = Lab::new(3);
    let runs: Vec<PathBuf> = (1..=3).map(|i| lab.start(i, tmp.path())).collect();
    for (i, run) in runs.iter().enumerate() {
        let out = pnrp(
            run,
            &[
                "register",
                &format!("0.host{}", i + 1),
                "--addr",
                &format!("10.77.0.{}", i + 1),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let clouds = pnrp(&runs[0], &["--json", "clouds"]);
    assert!(
        String::from_utf8_lossy(&clouds.stdout).contains("LinkLocal_eth0"),
        "{}",
        String::from_utf8_lossy(&clouds.stdout)
    );
    // Every namespace resolves every other namespace's name.
    for (i, run) in runs.iter().enumerate() {
        for j in 1..=3 {
            if j == i + 1 {
                continue;
            }
            let name = format!("host{j}.pnrp.net");
            let t = Instant::now();
            let out = loop {
                let out = pnrp(
                    run,
                    &[
                        "--json",
                        "resolve",
                        &name,
                        "--cloud",
                        "LinkLocal_eth0",
                        "--timeout",
                        "3",
                    ],
                );
                if out.status.success() || t.elapsed() > Duration::from_secs(60) {
                    break out;
                }
                std::thread::sleep(Duration::from_millis(500));
            };
            assert!(
                out.status.success(),
                "ns{} resolving {name}: {}",
                i + 1,
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                v["results"][0]["endpoints"][0]["addr"],
                format!("10.77.0.{j}")
            );
            assert_eq!(v["results"][0]["cloud"], "LinkLocal_eth0");
        }
    }
}
