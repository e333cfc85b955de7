//! Real `pnrpd` processes on loopback in a private cloud, driven through the
//! real `pnrp` command line (issue #4, "Tests"). Every wait is a bounded
//! poll; nothing asserts on timing.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "process-level tests read clocks and probe ports like any shell"
)]

mod common;

use std::time::Duration;

use common::{Daemon, json, resolve_until};

#[test]
fn register_on_one_daemon_resolve_from_another() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start(tmp.path(), 0, &[]);
    let b = Daemon::start(tmp.path(), 1, std::slice::from_ref(&a.listen));
    let reg = a.pnrp(&[
        "register",
        "0.printer",
        "--addr",
        "10.1.2.3:631/tcp",
        "--addr",
        "[2001:db8::7]:80",
        "--comment",
        "2nd floor",
        "--payload",
        "hello world",
    ]);
    assert!(
        reg.status.success(),
        "{}",
        String::from_utf8_lossy(&reg.stderr)
    );
    let out = resolve_until(&b, "printer.pnrp.net", true, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let r = &v["results"][0];
    assert_eq!(r["peer_name"], "0.printer");
    assert_eq!(r["cloud"], "lab");
    assert_eq!(r["comment"], "2nd floor");
    assert_eq!(r["payload_len"], 11);
    assert_eq!(r["endpoints"][0]["addr"], "10.1.2.3");
    assert_eq!(r["endpoints"][0]["port"], 631);
    assert_eq!(r["endpoints"][0]["proto"], "tcp");
    assert_eq!(r["endpoints"][1]["addr"], "2001:db8::7");

    // Unregister: then not found (exit 1) from the other daemon.
    assert!(a.pnrp(&["unregister", "0.printer"]).status.success());
    let out = resolve_until(&b, "0.printer", false, Duration::from_secs(20));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn registrations_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Daemon::start(tmp.path(), 2, &[]);
    assert!(
        a.pnrp(&["register", "0.scanner", "--addr", "10.9.9.9"])
            .status
            .success()
    );
    a.kill9();
    a.spawn();
    let out = a.pnrp(&["--json", "registrations"]);
    assert!(json(&out)["registrations"][0]["peer_name"] == "0.scanner");
    let out = resolve_until(&a, "0.scanner", true, Duration::from_secs(10));
    assert_eq!(json(&out)["results"][0]["endpoints"][0]["addr"], "10.9.9.9");
    a.terminate();
}

#[test]
fn names_still_resolve_after_a_node_in_the_middle_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = Daemon::start(tmp.path(), 3, &[]);
    let mut nodes = vec![];
    for i in 0..4 {
        let d = Daemon::start(tmp.path(), 4 + i, std::slice::from_ref(&seed.listen));
        assert!(
            d.pnrp(&[
                "register",
                &format!("0.n{i}"),
                "--addr",
                &format!("10.0.0.{i}")
            ])
            .status
            .success()
        );
        nodes.push(d);
    }
    assert!(seed.pnrp(&["register", "0.seed"]).status.success());
    for i in 0..4 {
        let out = resolve_until(
            &nodes[(i + 1) % 4],
            &format!("0.n{i}"),
            true,
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "n{i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Kill one node (and the seed, the node everyone met first).
    nodes[1].kill9();
    drop(seed);
    for i in [0usize, 2, 3] {
        let from = if i == 3 { 0 } else { 3 };
        let out = resolve_until(
            &nodes[from],
            &format!("0.n{i}"),
            true,
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "n{i} after the kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start(tmp.path(), 9, &[]);
    for args in [
        vec!["register", "0.bad name"],
        vec!["register", "0.x", "--addr", "not-an-ip"],
        vec!["register", "0.x", "--addr", "10.0.0.1/sctp"],
        vec!["register", "0.x", "--comment", &"c".repeat(40)],
        vec!["register", &format!("{}.x", "ab".repeat(20))],
        vec!["resolve", "x.example.com"],
        vec!["resolve", "0.x", "--timeout", "0"],
        vec!["unregister", "0.bad name"],
    ] {
        let out = a.pnrp(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
    let out = a.pnrp(&["--json", "registrations"]);
    assert_eq!(json(&out)["registrations"], serde_json::json!([]));
    // A raw garbage frame on the control socket gets an error, and the
    // daemon keeps serving.
    {
        use std::io::{Read as _, Write as _};
        let mut s =
            std::os::unix::net::UnixStream::connect(a.runtime.join("control.sock")).unwrap();
        s.write_all(&[0, 0, 0, 5, 1, 1, b'{', b'x', b'}']).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(String::from_utf8_lossy(&buf).contains("bad request frame"));
    }
    assert!(a.pnrp(&["status"]).status.success());
    // The lookup socket refuses control requests.
    {
        let req = br#"{"register":{"name":"0.x","endpoints":[],"comment":null,"payload":null,"cloud":null}}"#;
        let mut frame = ((req.len() + 2) as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&[1, 1]);
        frame.extend_from_slice(req);
        use std::io::{Read as _, Write as _};
        let mut s = std::os::unix::net::UnixStream::connect(a.runtime.join("lookup.sock")).unwrap();
        s.write_all(&frame).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        assert!(String::from_utf8_lossy(&body).contains("denied"));
    }
    let out = a.pnrp(&["--json", "registrations"]);
    assert_eq!(json(&out)["registrations"], serde_json::json!([]));
}

#[test]
fn machine_name_is_published_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("pnrpd.toml");
    std::fs::write(&config, "machine_name = \"unsecured\"\n").unwrap();
    let mut a = Daemon::start(tmp.path(), 20, &[]);
    a.kill9();
    a.extra = vec!["--config".into(), config.display().to_string()];
    a.spawn();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let label = host.trim().split('.').next().unwrap().to_owned();
    let out = resolve_until(&a, &format!("0.{label}"), true, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(
        v["results"][0]["peer_name"].as_str().map(str::to_lowercase),
        Some(format!("0.{label}").to_lowercase())
    );
}
