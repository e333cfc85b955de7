//! The DNS stub for `*.pnrp.net` (issue #6, design §6) against a real
//! `pnrpd`: real `dig` over UDP and TCP, a hickory client, raw malformed
//! datagrams, and unbound and dnsmasq forwarding `pnrp.net` to the stub with
//! the drop-ins shipped in `nsp-shim/contrib/`.
//!
//! `dig`, `unbound` and `dnsmasq` are installed by `.ci/run`; where one is
//! missing the test skips with a reason, except under `CI=true`, where a
//! missing tool is a failure.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "process-level tests read clocks and use sockets like any shell"
)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, free_port};

/// Skips (or, under CI, fails) when `tool` is missing.
fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "CI=true but `{tool}` is not installed"
        );
        println!("skipped: `{tool}` is not installed");
    }
    ok
}

fn split(addr: &str) -> (&str, &str) {
    addr.rsplit_once(':').unwrap()
}

/// Runs `dig @server -p port ARGS…` and returns its stdout.
fn dig(server: &str, args: &[&str]) -> String {
    let (ip, port) = split(server);
    let out = Command::new("dig")
        .arg(format!("@{ip}"))
        .args(["-p", port, "+time=3", "+tries=1"])
        .args(args)
        .output()
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status_of(dig_out: &str) -> &str {
    dig_out
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("(no answer)")
}

fn short(server: &str, args: &[&str]) -> Vec<String> {
    let mut a = args.to_vec();
    a.push("+short");
    let mut v: Vec<String> = dig(server, &a).lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// Registers on `d` and waits until the node resolves its own name.
fn register(d: &Daemon, args: &[&str], name: &str) {
    let mut a = vec!["register"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--cloud", "lab"]);
    let out = d.pnrp(&a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::resolve_until(d, name, true, Duration::from_secs(10));
    assert!(out.status.success(), "{name} does not resolve");
}

#[test]
fn dig_gets_every_record_type_and_rcode() {
    if !have("dig") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with_dns(tmp.path(), 40, &[]);
    let dns = a.dns.clone().unwrap();
    register(
        &a,
        &[
            "0.MyHost",
            "--addr",
            "192.0.2.7:8080/tcp",
            "--addr",
            "[2001:db8::7]:53/udp",
            "--comment",
            "hello there",
            "--payload",
            "some text",
        ],
        "0.MyHost",
    );

    // A, AAAA, TXT, SRV; the query's letter case is kept in the answer.
    let out = dig(&dns, &["MyHoSt.PnRp.NeT", "A", "+norec"]);
    assert_eq!(status_of(&out), "NOERROR", "{out}");
    assert!(
        out.contains("MyHoSt.PnRp.NeT.\t10\tIN\tA\t192.0.2.7"),
        "{out}"
    );
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert_eq!(short(&dns, &["myhost.pnrp.net", "AAAA"]), ["2001:db8::7"]);
    assert_eq!(
        short(&dns, &["myhost.pnrp.net", "TXT"]),
        ["\"hello there\"", "\"some text\""]
    );
    assert_eq!(
        short(&dns, &["_http._tcp.myhost.pnrp.net", "SRV"]),
        ["0 0 8080 myhost.pnrp.net."]
    );
    assert_eq!(
        short(&dns, &["_dns._udp.myhost.pnrp.net", "SRV"]),
        ["0 0 53 myhost.pnrp.net."]
    );

    // The same over TCP, with DNSSEC OK and a large buffer: answered, the
    // DO bit echoed, no signatures (the zone is not signed).
    let out = dig(
        &dns,
        &["myhost.pnrp.net", "A", "+tcp", "+dnssec", "+bufsize=4096"],
    );
    assert_eq!(status_of(&out), "NOERROR", "{out}");
    assert!(out.contains("flags: do; udp: 1232"), "{out}");
    assert!(out.contains("192.0.2.7"), "{out}");
    assert!(!out.contains("RRSIG"), "{out}");

    // Negative answers carry the SOA; names outside the zone are refused.
    let out = dig(&dns, &["nothere.pnrp.net", "A"]);
    assert_eq!(status_of(&out), "NXDOMAIN", "{out}");
    assert!(
        out.contains("IN\tSOA\tpnrp.net. hostmaster.pnrp.net."),
        "{out}"
    );
    let out = dig(&dns, &["myhost.pnrp.net", "MX"]);
    assert_eq!(status_of(&out), "NOERROR", "{out}");
    assert!(out.contains("ANSWER: 0, AUTHORITY: 1"), "{out}");
    assert_eq!(status_of(&dig(&dns, &["example.com", "A"])), "REFUSED");
    assert_eq!(status_of(&dig(&dns, &["pnrp.net.example", "A"])), "REFUSED");
    let out = dig(&dns, &["pnrp.net", "SOA"]);
    assert!(out.contains("ANSWER: 1"), "{out}");

    // Unregistering clears the stub's cache at once.
    let out = a.pnrp(&["unregister", "0.MyHost", "--cloud", "lab"]);
    assert!(out.status.success());
    let out = dig(&dns, &["myhost.pnrp.net", "A"]);
    assert_eq!(status_of(&out), "NXDOMAIN", "{out}");
}

#[test]
fn large_answers_truncate_over_udp_and_come_whole_over_tcp() {
    if !have("dig") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with_dns(tmp.path(), 41, &[]);
    let dns = a.dns.clone().unwrap();
    let text = "x".repeat(2000);
    register(
        &a,
        &["0.big", "--addr", "192.0.2.9", "--payload", &text],
        "0.big",
    );
    // Without EDNS the limit is 512 bytes: TC set, no records.
    let out = dig(
        &dns,
        &["big.pnrp.net", "TXT", "+ignore", "+noedns", "+norec"],
    );
    assert!(out.contains("flags: qr aa tc;"), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
    // dig retries over TCP by itself and gets the whole TXT record.
    let out = dig(&dns, &["big.pnrp.net", "TXT", "+bufsize=512"]);
    assert_eq!(status_of(&out), "NOERROR", "{out}");
    assert!(out.contains("ANSWER: 1"), "{out}");
    assert!(out.contains(&"x".repeat(255)), "{out}");
    // A small answer fits even the smallest buffer.
    let out = dig(&dns, &["big.pnrp.net", "A", "+bufsize=512", "+norec"]);
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert!(out.contains("192.0.2.9"), "{out}");
}

#[test]
fn a_hickory_client_resolves_through_the_stub() {
    use hickory_net::client::{Client, ClientHandle as _};
    use hickory_net::proto::op::ResponseCode;
    use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
    use hickory_net::runtime::TokioRuntimeProvider;
    use hickory_net::udp::UdpClientStream;

    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with_dns(tmp.path(), 42, &[]);
    register(
        &a,
        &[
            "0.Printer",
            "--addr",
            "198.51.100.4",
            "--addr",
            "2001:db8::4",
        ],
        "0.Printer",
    );
    let server: SocketAddr = a.dns.clone().unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default()).build();
        let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
        tokio::spawn(bg);
        let name: Name = "PRINTER.pnrp.net.".parse().unwrap();
        let r = client
            .query(name.clone(), DNSClass::IN, RecordType::A)
            .await
            .unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        let addrs: Vec<_> = r
            .answers
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::A(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(addrs, ["198.51.100.4"]);
        assert_eq!(r.answers[0].name, name); // case-insensitive (dig checks case)
        let r = client
            .query(name, DNSClass::IN, RecordType::AAAA)
            .await
            .unwrap();
        assert!(matches!(&r.answers[0].data, RData::AAAA(x) if x.0.to_string() == "2001:db8::4"));
        let r = client
            .query(
                "absent.pnrp.net.".parse().unwrap(),
                DNSClass::IN,
                RecordType::A,
            )
            .await
            .unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(r.authorities.len(), 1);
    });
}

/// Sends `msg` and returns the answer, if one comes within 2 s.
fn exchange(sock: &UdpSocket, msg: &[u8]) -> Option<Vec<u8>> {
    sock.send(msg).unwrap();
    let mut buf = [0u8; 2048];
    sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn rcode(answer: &[u8]) -> u16 {
    u16::from(answer[3] & 0x0F)
}

fn query(id: u16, name: &[u8], qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

#[test]
fn a_polling_stub_answers_single_questions_bursts_and_after_idling() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with_dns_and(tmp.path(), 44, &[], &["--dns-poll-us", "2000"]);
    register(&a, &["0.poller", "--addr", "192.0.2.45"], "0.poller");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(a.dns.as_deref().unwrap()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let ask = |id: u16| query(id, b"\x06poller\x04pnrp\x03net\x00", 1);
    let answered = |r: &[u8], id: u16| {
        r.len() > 16 && r[..2] == id.to_be_bytes() && rcode(r) == 0 && r.ends_with(&[192, 0, 2, 45])
    };
    // One at a time: each next question arrives while the thread polls.
    for id in 1..=200u16 {
        let r = exchange(&sock, &ask(id)).expect("answered while polling");
        assert!(answered(&r, id), "{r:?}");
    }
    // A burst without waiting: taken in batches.
    for id in 1000..1064u16 {
        sock.send(&ask(id)).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let mut buf = [0u8; 512];
    while seen.len() < 64 {
        let n = sock.recv(&mut buf).expect("every burst question answered");
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        assert!(answered(&buf[..n], id), "{:?}", &buf[..n]);
        seen.insert(id);
    }
    // After the polling window the thread sleeps in the kernel again and
    // still wakes up for the next question.
    std::thread::sleep(Duration::from_millis(50));
    let r = exchange(&sock, &ask(7)).expect("answered after idling");
    assert!(answered(&r, 7), "{r:?}");
}

#[test]
fn malformed_queries_get_the_right_rcode_and_never_stop_the_stub() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with_dns(tmp.path(), 43, &[]);
    register(&a, &["0.alive", "--addr", "192.0.2.44"], "0.alive");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(a.dns.as_deref().unwrap()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let good = query(1, b"\x05alive\x04pnrp\x03net\x00", 1);

    // Shorter than a header, and responses: no answer at all.
    assert_eq!(exchange(&sock, &[0x12, 0x34, 0x01]), None);
    let mut response = good.clone();
    response[2] |= 0x80;
    assert_eq!(exchange(&sock, &response), None);

    // Header only, claiming a question: FORMERR with the same ID.
    let r = exchange(&sock, &[0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!((&r[..2], rcode(&r)), (&[0xAB, 0xCD][..], 1));
    // A compression loop in the question name: FORMERR.
    let r = exchange(&sock, &query(2, b"\xc0\x0c", 1)).unwrap();
    assert_eq!(rcode(&r), 1);
    // Huge section counts with nothing behind them: FORMERR.
    let mut m = good.clone();
    m[6..12].copy_from_slice(&[0xFF; 6]);
    assert_eq!(rcode(&exchange(&sock, &m).unwrap()), 1);
    // A truncated question: FORMERR.
    assert_eq!(rcode(&exchange(&sock, &good[..good.len() - 3]).unwrap()), 1);
    // Other opcodes (NOTIFY = 4, UPDATE = 5): NOTIMP.
    for op in [4u8, 5] {
        let mut m = good.clone();
        m[2] = (m[2] & 0x87) | (op << 3);
        assert_eq!(rcode(&exchange(&sock, &m).unwrap()), 4);
    }
    // EDNS version 1: BADVERS (extended rcode 1 in the OPT record).
    let mut m = good.clone();
    m[11] = 1;
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 1, 0, 0, 0, 0]);
    let r = exchange(&sock, &m).unwrap();
    assert_eq!((rcode(&r), r[r.len() - 6]), (0, 1), "{r:?}");

    // Seeded random bytes and bit flips of a good query: whatever comes
    // back is a well-formed response to the same ID.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..600 {
        let mut m = if i % 2 == 0 {
            (0..(next() % 80) as usize)
                .map(|_| next() as u8)
                .collect::<Vec<_>>()
        } else {
            let mut m = good.clone();
            let at = (next() as usize) % m.len();
            m[at] ^= 1 << (next() % 8);
            m
        };
        if m.len() >= 3 {
            m[2] &= 0x7F; // a query, so an answer is due
        }
        sock.send(&m).unwrap();
        if m.len() < 12 {
            continue; // no header: nothing to answer
        }
        // Every datagram with a header gets an answer with its ID (rcode
        // FORMERR, NOTIMP, or a real answer to a rebuilt question).
        let mut buf = [0u8; 2048];
        let n = loop {
            let n = sock
                .recv(&mut buf)
                .expect("an answer to a query with a header");
            if buf[..2] == m[..2] {
                break n;
            }
        };
        assert!(n >= 12 && buf[2] & 0x80 != 0, "{m:?} -> {:?}", &buf[..n]);
    }

    // Still answering.
    let r = exchange(&sock, &good).unwrap();
    assert_eq!(rcode(&r), 0);
    assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 44]);
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shipped drop-in with the stub's real address in place of the
/// default `127.0.0.1` port `5335`.
fn drop_in(path: &str, stub: &str, sep: &str) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../nsp-shim/contrib")
            .join(path),
    )
    .unwrap();
    let (ip, port) = split(stub);
    let default = format!("127.0.0.1{sep}5335");
    assert!(text.contains(&default), "{path} names {default}");
    text.replace(&default, &format!("{ip}{sep}{port}"))
}

/// Waits until `server` answers `name` with `expect` in the short form.
fn until_answer(server: &str, name: &str, expect: &str) -> Vec<String> {
    let start = Instant::now();
    loop {
        let got = short(server, &[name, "A"]);
        if got.iter().any(|l| l == expect) || start.elapsed() > Duration::from_secs(15) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn unbound_and_dnsmasq_forward_pnrp_net_to_the_stub() {
    if !have("dig") || !have("unbound") || !have("dnsmasq") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with_dns(tmp.path(), 44, &[]);
    let stub = a.dns.clone().unwrap();
    register(&a, &["0.Forwarded", "--addr", "203.0.113.5"], "0.Forwarded");

    // unbound with the shipped drop-in, on its own loopback address.
    let ub = format!("127.0.0.61:{}", free_port("127.0.0.61"));
    let conf = tmp.path().join("unbound.conf");
    let (ub_ip, ub_port) = split(&ub);
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: {ub_ip}\n  port: {ub_port}\n  do-daemonize: no\n  \
             username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"\"\n  \
             use-syslog: no\n  logfile: \"\"\n  num-threads: 1\n  do-ip6: no\n  \
             access-control: 127.0.0.0/8 allow\n  module-config: \"validator iterator\"\n\
             {dropin}",
            dir = tmp.path().display(),
            dropin = drop_in("unbound/pnrp.conf", &stub, "@"),
        ),
    )
    .unwrap();
    let check = Command::new("unbound-checkconf").arg(&conf).output();
    if let Ok(o) = check {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let _unbound = Proc(
        Command::new("unbound")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts"),
    );
    let got = until_answer(&ub, "forwarded.pnrp.net", "203.0.113.5");
    assert_eq!(got, ["203.0.113.5"], "unbound did not forward");
    let out = dig(&ub, &["nope.pnrp.net", "A"]);
    assert_eq!(status_of(&out), "NXDOMAIN", "{out}");

    // dnsmasq with the shipped drop-in.
    let dm = format!("127.0.0.62:{}", free_port("127.0.0.62"));
    let (dm_ip, dm_port) = split(&dm);
    let dm_conf = tmp.path().join("dnsmasq.conf");
    std::fs::write(&dm_conf, drop_in("dnsmasq/pnrp.conf", &stub, "#")).unwrap();
    let _dnsmasq = Proc(
        Command::new("dnsmasq")
            .args(["--keep-in-foreground", "--no-resolv", "--no-hosts"])
            .args(["--bind-interfaces", "--user=root", "--group=root"])
            .arg(format!("--listen-address={dm_ip}"))
            .arg(format!("--port={dm_port}"))
            .arg(format!("--conf-file={}", dm_conf.display()))
            .arg(format!(
                "--pid-file={}",
                tmp.path().join("dnsmasq.pid").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq starts"),
    );
    let got = until_answer(&dm, "FORWARDED.pnrp.net", "203.0.113.5");
    assert_eq!(got, ["203.0.113.5"], "dnsmasq did not forward");
}
