//! The NSS module against a real `pnrpd` (issue #5): every entry point called
//! directly (small and large buffers, each family), and — as root, in a
//! private mount namespace with a bind-mounted `nsswitch.conf` — real glibc
//! `getent` loading `libnss_pnrp.so.2`.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "process-level tests read clocks and probe ports like any shell"
)]

mod common;

use core::ffi::{c_char, c_int};
use std::ffi::{CStr, CString};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, resolve_until};
use nss_pnrp::frame::{Addr, Family};
use nss_pnrp::nss::{
    _nss_pnrp_gethostbyname_r, _nss_pnrp_gethostbyname2_r, _nss_pnrp_gethostbyname3_r,
    _nss_pnrp_gethostbyname4_r, GaihAddrtuple, NSS_STATUS_NOTFOUND, NSS_STATUS_SUCCESS,
    NSS_STATUS_TRYAGAIN, NSS_STATUS_UNAVAIL, Outcome, query, query_daemon,
};

fn setup(dir: &std::path::Path, n: usize) -> Daemon {
    let d = Daemon::start(dir, n, &[]);
    let out = d.pnrp(&[
        "register",
        "0.myhost",
        "--addr",
        "10.1.2.3",
        "--addr",
        "[2001:db8::5]:80",
        "--addr",
        "10.1.2.4:22/tcp",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        resolve_until(&d, "0.myhost", true, Duration::from_secs(10))
            .status
            .success()
    );
    d
}

fn ips4(pat: *mut GaihAddrtuple) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = pat;
    while !t.is_null() {
        // SAFETY: the module built this chain in our buffer.
        let tu = unsafe { &*t };
        let bytes: Vec<u8> = tu.addr.iter().flat_map(|w| w.to_ne_bytes()).collect();
        out.push(if tu.family == libc::AF_INET {
            std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
        } else {
            let a: [u8; 16] = bytes.try_into().expect("16 bytes");
            std::net::Ipv6Addr::from(a).to_string()
        });
        t = tu.next;
    }
    out
}

#[test]
fn entry_points_answer_from_a_running_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let d = setup(tmp.path(), 30);
    let socket = d.runtime.join("lookup.sock");
    // The module reads its socket from the environment (secure_getenv); this
    // is the only test in this binary that touches it.
    // SAFETY: no other thread of this test binary reads the environment now.
    unsafe { std::env::set_var("PNRP_LOOKUP_SOCKET", &socket) };
    let name = CString::new("MyHost.PNRP.net.").unwrap();
    let (mut errno, mut herrno) = (0 as c_int, 0 as c_int);

    // gethostbyname4_r: both families, big buffer.
    let mut buf = vec![0u8; 4096];
    let mut pat: *mut GaihAddrtuple = std::ptr::null_mut();
    let mut ttl = 0i32;
    let (st, _, _) = gethostbyname4(&name, &mut pat, &mut buf, Some(&mut ttl));
    assert_eq!(st, NSS_STATUS_SUCCESS);
    let mut got = ips4(pat);
    got.sort();
    assert_eq!(got, vec!["10.1.2.3", "10.1.2.4", "2001:db8::5"]);
    assert_eq!(ttl, 10);

    // Too small a buffer: TRYAGAIN + ERANGE, then success with a bigger one.
    let mut small = vec![0u8; 16];
    let mut pat: *mut GaihAddrtuple = std::ptr::null_mut();
    let (st, err, _) = gethostbyname4(&name, &mut pat, &mut small, None);
    assert_eq!((st, err), (NSS_STATUS_TRYAGAIN, libc::ERANGE));
    assert!(pat.is_null(), "nothing written on ERANGE");

    // gethostbyname3_r / 2_r / _r: one family each.
    for (af, want) in [
        (libc::AF_INET, vec!["10.1.2.3", "10.1.2.4"]),
        (libc::AF_INET6, vec!["2001:db8::5"]),
        (libc::AF_UNSPEC, vec!["10.1.2.3", "10.1.2.4"]),
    ] {
        // SAFETY: zeroed hostent is a valid out-parameter.
        let mut host: libc::hostent = unsafe { std::mem::zeroed() };
        let mut canon: *mut c_char = std::ptr::null_mut();
        // SAFETY: valid pointers and buffer.
        let st = unsafe {
            _nss_pnrp_gethostbyname3_r(
                name.as_ptr(),
                af,
                &mut host,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut errno,
                &mut herrno,
                &mut ttl,
                &mut canon,
            )
        };
        assert_eq!(st, NSS_STATUS_SUCCESS, "af {af}");
        let mut got = Vec::new();
        let mut i = 0;
        // SAFETY: the module filled a NULL-terminated list in our buffer.
        unsafe {
            while !(*host.h_addr_list.add(i)).is_null() {
                let p = (*host.h_addr_list.add(i)).cast::<u8>();
                got.push(if host.h_length == 4 {
                    std::net::Ipv4Addr::new(*p, *p.add(1), *p.add(2), *p.add(3)).to_string()
                } else {
                    let mut a = [0u8; 16];
                    std::ptr::copy_nonoverlapping(p, a.as_mut_ptr(), 16);
                    std::net::Ipv6Addr::from(a).to_string()
                });
                i += 1;
            }
            assert_eq!(CStr::from_ptr(canon).to_str().unwrap(), "MyHost.PNRP.net.");
        }
        got.sort();
        assert_eq!(got, want, "af {af}");
        // Small buffer.
        // SAFETY: as above.
        let st = unsafe {
            _nss_pnrp_gethostbyname2_r(
                name.as_ptr(),
                af,
                &mut host,
                small.as_mut_ptr().cast(),
                small.len(),
                &mut errno,
                &mut herrno,
            )
        };
        assert_eq!((st, errno), (NSS_STATUS_TRYAGAIN, libc::ERANGE));
    }
    // SAFETY: as above.
    let mut host: libc::hostent = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let st = unsafe {
        _nss_pnrp_gethostbyname_r(
            name.as_ptr(),
            &mut host,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut errno,
            &mut herrno,
        )
    };
    assert_eq!((st, host.h_addrtype), (NSS_STATUS_SUCCESS, libc::AF_INET));

    // In-zone miss: NOTFOUND; out of zone: UNAVAIL before any I/O.
    let miss = CString::new("nothere.pnrp.net").unwrap();
    let mut pat: *mut GaihAddrtuple = std::ptr::null_mut();
    let (st, _, h_err) = gethostbyname4(&miss, &mut pat, &mut buf, None);
    assert_eq!((st, h_err), (NSS_STATUS_NOTFOUND, 1));
    let other = CString::new("example.com").unwrap();
    let (st, _, _) = gethostbyname4(&other, &mut pat, &mut buf, None);
    assert_eq!(st, NSS_STATUS_UNAVAIL);

    // Daemon unreachable: NOTFOUND, never UNAVAIL.
    let gone = tmp.path().join("nothing.sock");
    assert_eq!(
        query(
            gone.to_str().unwrap(),
            b"myhost.pnrp.net",
            Family::Any,
            Duration::from_secs(1)
        ),
        Outcome::Miss
    );
    // SAFETY: as above.
    unsafe { std::env::set_var("PNRP_LOOKUP_SOCKET", &gone) };
    let (st, _, _) = gethostbyname4(&name, &mut pat, &mut buf, None);
    assert_eq!(st, NSS_STATUS_NOTFOUND);
}

/// One `_nss_pnrp_gethostbyname4_r` call with valid pointers: `(status,
/// errno, h_errno)`; the answer list, if any, is left in `pat`.
fn gethostbyname4(
    name: &CStr,
    pat: &mut *mut GaihAddrtuple,
    buf: &mut [u8],
    ttl: Option<&mut i32>,
) -> (c_int, c_int, c_int) {
    let (mut errno, mut herrno) = (0 as c_int, 0 as c_int);
    let ttl = ttl.map_or(std::ptr::null_mut(), |t| t as *mut i32);
    // SAFETY: valid pointers and a buffer of the stated length.
    let st = unsafe {
        _nss_pnrp_gethostbyname4_r(
            name.as_ptr(),
            pat,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut errno,
            &mut herrno,
            ttl,
        )
    };
    (st, errno, herrno)
}

/// The daemon's pid, from `pnrp status`.
fn daemon_pid(d: &Daemon) -> i32 {
    let out = d.pnrp(&["--json", "status"]);
    let v = common::json(&out);
    let pid = v.get("pid").or_else(|| v["status"].get("pid"));
    i32::try_from(pid.and_then(serde_json::Value::as_u64).expect("status pid")).expect("pid")
}

/// Holds the daemon stopped (SIGSTOP) until dropped (SIGCONT): its sockets
/// still accept, but nothing answers.
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Self {
        // SAFETY: plain kill(2) on the daemon this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

fn found(o: &Outcome) -> Vec<String> {
    let Outcome::Found(addrs) = o else {
        return Vec::new();
    };
    let mut v: Vec<String> = addrs
        .iter()
        .map(|a| match a {
            Addr::V4(b) => std::net::Ipv4Addr::from(*b).to_string(),
            Addr::V6(b) => std::net::Ipv6Addr::from(*b).to_string(),
        })
        .collect();
    v.sort();
    v
}

/// The host table (`hosts.table`): a name the module has looked up once is
/// answered from the table while the daemon cannot answer at all (stopped),
/// in every family; an unregistration voids it.
#[test]
fn the_table_answers_while_the_daemon_is_stopped_until_unregistered() {
    let tmp = tempfile::tempdir().unwrap();
    let d = setup(tmp.path(), 32);
    let socket = d.runtime.join("lookup.sock");
    let socket = socket.to_str().unwrap();
    let table = d.runtime.join(nss_pnrp::table::FILE_NAME);
    let mode = std::fs::metadata(&table).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "readable by every process");
    let short = Duration::from_millis(300);
    let all = vec!["10.1.2.3", "10.1.2.4", "2001:db8::5"];
    // Through the daemon, which publishes the answer.
    assert_eq!(
        found(&query(socket, b"MyHost.pnrp.net", Family::Any, short)),
        all
    );
    let pid = daemon_pid(&d);
    {
        let _stopped = Stopped::new(pid);
        assert_eq!(
            found(&query(socket, b"myhost.PNRP.net.", Family::Any, short)),
            all
        );
        assert_eq!(
            found(&query(socket, b"myhost.pnrp.net", Family::V4, short)),
            vec!["10.1.2.3", "10.1.2.4"]
        );
        assert_eq!(
            found(&query(socket, b"myhost.pnrp.net", Family::V6, short)),
            vec!["2001:db8::5"]
        );
        // Never asked before: not in the table, and the daemon is silent.
        assert_eq!(
            query(socket, b"nothere.pnrp.net", Family::Any, short),
            Outcome::Miss
        );
        // The same lookup without the table: the daemon cannot answer.
        assert_eq!(
            query_daemon(socket, b"myhost.pnrp.net", Family::Any, short),
            Outcome::Miss
        );
    }
    let out = d.pnrp(&["unregister", "0.myhost"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        let _stopped = Stopped::new(pid);
        assert_eq!(
            query(socket, b"myhost.pnrp.net", Family::Any, short),
            Outcome::Miss,
            "unregistering voids the published answer"
        );
    }
}

/// A table that is garbage is never trusted (the daemon answers instead),
/// and a stopped daemon removes its table.
#[test]
fn a_garbage_table_falls_back_to_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = setup(tmp.path(), 33);
    let socket = d.runtime.join("lookup.sock");
    let socket = socket.to_str().unwrap();
    let table = d.runtime.join(nss_pnrp::table::FILE_NAME);
    let short = Duration::from_millis(300);
    let all = vec!["10.1.2.3", "10.1.2.4", "2001:db8::5"];
    assert_eq!(
        found(&query(socket, b"myhost.pnrp.net", Family::Any, short)),
        all
    );
    // Same file, new contents: what a reader would see of a corrupted table.
    let garbage: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&table, &garbage).unwrap();
    {
        let _stopped = Stopped::new(daemon_pid(&d));
        assert_eq!(
            query(socket, b"myhost.pnrp.net", Family::Any, short),
            Outcome::Miss,
            "a garbage table answers nothing"
        );
    }
    // The daemon answers (and publishes the answer again).
    assert_eq!(
        found(&query(socket, b"myhost.pnrp.net", Family::Any, short)),
        all
    );
    std::fs::write(&table, b"PNRPHTAB").unwrap();
    assert_eq!(
        found(&query(socket, b"myhost.pnrp.net", Family::Any, short)),
        all
    );
    d.terminate();
    assert!(!table.exists(), "a stopped daemon leaves no table behind");
}

/// A slot past its expiry is ignored; a live one beside it answers (a
/// table written here, with no daemon at all).
#[test]
fn an_expired_slot_is_ignored() {
    use nss_pnrp::table::{
        FILE_LEN, HEADER_LEN, SLOT_SIZE, Slot, bucket_of, bucket_offset, header, now_ns,
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut img = vec![0u8; usize::try_from(FILE_LEN).unwrap()];
    img[..HEADER_LEN].copy_from_slice(&header());
    let now = now_ns();
    for (name, expires) in [
        (&b"old.pnrp.net"[..], now - 1),
        (b"live.pnrp.net", now + 10_000_000_000),
    ] {
        let s = Slot {
            expires_ns: expires,
            family: Family::Any,
            name,
            addrs: vec![Addr::V4([10, 7, 7, 7])],
        };
        let at = usize::try_from(bucket_offset(bucket_of(name))).unwrap();
        // The second way if both names share a bucket.
        let at = at + if img[at] != 0 { SLOT_SIZE } else { 0 };
        img[at..at + SLOT_SIZE].copy_from_slice(&s.encode().unwrap());
    }
    std::fs::write(tmp.path().join(nss_pnrp::table::FILE_NAME), &img).unwrap();
    // No daemon behind this socket path: only the table can answer.
    let socket = tmp.path().join("lookup.sock");
    let socket = socket.to_str().unwrap();
    let budget = Duration::from_millis(300);
    assert_eq!(
        found(&query(socket, b"live.pnrp.net", Family::Any, budget)),
        vec!["10.7.7.7"]
    );
    assert_eq!(
        query(socket, b"old.pnrp.net", Family::Any, budget),
        Outcome::Miss
    );
}

fn module_path() -> PathBuf {
    // target/<profile>/deps/nss-<hash> → target/<profile>/libnss_pnrp.so
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("libnss_pnrp.so")
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// Whether a root-only glibc test can run here: root, the built module, and
/// each `(program, version flag, name)` tool. Otherwise it prints why and
/// returns false, except under `CI=true`, where that is a failure.
fn runnable(test: &str, tools: &[(&str, &str, &str)]) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { geteuid() } == 0;
    let module = module_path();
    let missing = if !root {
        Some("not root".to_string())
    } else if !module.exists() {
        Some(format!(
            "{} not built (cargo build -p nss-pnrp)",
            module.display()
        ))
    } else {
        tools
            .iter()
            .find(|(p, flag, _)| Command::new(p).arg(flag).output().is_err())
            .map(|(_, _, name)| format!("{name} missing"))
    };
    match missing {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "CI=true but the {test} test cannot run: {why}"
            );
            println!("skipped: {why}");
            false
        }
    }
}

#[test]
fn getent_and_ping_through_glibc_in_a_private_mount_namespace() {
    if !runnable(
        "getent",
        &[
            ("unshare", "--version", "unshare (util-linux)"),
            ("ping", "-V", "ping (iputils-ping)"),
        ],
    ) {
        return;
    }
    let module = module_path();
    let tmp = tempfile::tempdir().unwrap();
    let d = setup(tmp.path(), 31);
    let out = d.pnrp(&["register", "0.loopy", "--addr", "127.0.0.1"]);
    assert!(out.status.success());
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(&module, lib.join("libnss_pnrp.so.2")).unwrap();
    let conf = tmp.path().join("nsswitch.conf");
    std::fs::write(&conf, "hosts: files pnrp [NOTFOUND=return] dns\n").unwrap();
    let script = format!(
        "mount --bind {conf} /etc/nsswitch.conf || exit 99
         export PNRP_LOOKUP_SOCKET={sock} LD_LIBRARY_PATH={lib}
         echo '# hosts'; getent hosts myhost.pnrp.net
         echo '# ahosts'; getent ahosts MyHost.pnrp.net
         echo '# ahostsv4'; getent ahostsv4 myhost.pnrp.net
         echo '# ahostsv6'; getent ahostsv6 myhost.pnrp.net
         echo '# miss'; getent hosts nothere.pnrp.net; echo \"rc=$?\"
         echo '# localhost'; getent hosts localhost
         echo '# ping'; ping -c1 -W2 loopy.pnrp.net; echo \"rc=$?\"",
        conf = conf.display(),
        sock = d.runtime.join("lookup.sock").display(),
        lib = lib.display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let section = |h: &str| -> String {
        text.split("# ")
            .find(|s| s.starts_with(h))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(section("hosts\n").contains("2001:db8::5"), "{text}");
    assert!(
        section("ahosts\n").contains("10.1.2.3") && section("ahosts\n").contains("2001:db8::5"),
        "{text}"
    );
    assert!(
        section("ahostsv4").contains("10.1.2.4") && !section("ahostsv4").contains("2001"),
        "{text}"
    );
    assert!(
        section("ahostsv6").contains("2001:db8::5") && !section("ahostsv6").contains("10.1.2"),
        "{text}"
    );
    assert!(section("miss").contains("rc=2"), "{text}");
    assert!(
        section("localhost").contains("127.0.0.1") || section("localhost").contains("::1"),
        "{text}"
    );
    assert!(section("ping").contains("rc=0"), "{text}");
}

#[test]
fn with_the_daemon_down_pnrp_names_miss_without_leaking_to_dns() {
    if !runnable(
        "DNS-leak",
        &[("python3", "-V", "python3 (the DNS listener)")],
    ) {
        return;
    }
    let module = module_path();
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(&module, lib.join("libnss_pnrp.so.2")).unwrap();
    let conf = tmp.path().join("nsswitch.conf");
    std::fs::write(&conf, "hosts: files pnrp [NOTFOUND=return] dns\n").unwrap();
    let resolv = tmp.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let listener = tmp.path().join("dns.py");
    std::fs::write(
        &listener,
        "import socket,sys,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('127.0.0.1',53)); s.settimeout(0.2)\n\
         open(sys.argv[2],'w').close()\n\
         n=0; end=time.time()+float(sys.argv[1])\n\
         while time.time()<end:\n\
         \x20   try:\n\
         \x20       s.recvfrom(512); n+=1\n\
         \x20   except socket.timeout:\n\
         \x20       pass\n\
         print('queries', n)\n",
    )
    .unwrap();
    // A private network namespace (only lo) holds the DNS listener; the
    // module's socket path points at nothing: the daemon is down.
    let script = format!(
        "mount --bind {conf} /etc/nsswitch.conf || exit 99
         mount --bind {resolv} /etc/resolv.conf || exit 99
         ip link set lo up
         export PNRP_LOOKUP_SOCKET={gone} LD_LIBRARY_PATH={lib}
         ready() {{ for i in $(seq 100); do [ -e $1 ] && return; sleep 0.05; done; }}
         python3 {listener} 2.5 {tmp}/ready1 > {tmp}/in-zone & ready {tmp}/ready1
         getent hosts myhost.pnrp.net; echo \"rc=$?\"; wait
         python3 {listener} 2.5 {tmp}/ready2 > {tmp}/control & ready {tmp}/ready2
         getent hosts control.example.com; wait
         echo in-zone $(cat {tmp}/in-zone); echo control $(cat {tmp}/control)",
        conf = conf.display(),
        resolv = resolv.display(),
        gone = tmp.path().join("nothing/lookup.sock").display(),
        lib = lib.display(),
        listener = listener.display(),
        tmp = tmp.path().display(),
    );
    let out = Command::new("unshare")
        .args(["-mn", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("rc=2"), "in-zone name must be a miss: {text}");
    assert!(
        text.contains("in-zone queries 0"),
        "a *.pnrp.net query leaked to DNS: {text}"
    );
    assert!(
        !text.contains("control queries 0"),
        "the listener must see ordinary names: {text}"
    );
}
