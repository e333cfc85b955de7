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
use std::ffi::CString;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, resolve_until};
use nss_pnrp::nss::{
    _nss_pnrp_gethostbyname_r, _nss_pnrp_gethostbyname2_r, _nss_pnrp_gethostbyname3_r,
    _nss_pnrp_gethostbyname4_r, GaihAddrtuple, NSS_STATUS_NOTFOUND, NSS_STATUS_SUCCESS,
    NSS_STATUS_TRYAGAIN, NSS_STATUS_UNAVAIL, query,
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
    // SAFETY: valid pointers and a buffer of the stated length.
    let st = unsafe {
        _nss_pnrp_gethostbyname4_r(
            name.as_ptr(),
            &mut pat,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut errno,
            &mut herrno,
            &mut ttl,
        )
    };
    assert_eq!(st, NSS_STATUS_SUCCESS);
    let mut got = ips4(pat);
    got.sort();
    assert_eq!(got, vec!["10.1.2.3", "10.1.2.4", "2001:db8::5"]);
    assert_eq!(ttl, 10);

    // Too small a buffer: TRYAGAIN + ERANGE, then success with a bigger one.
    let mut small = vec![0u8; 16];
    let mut pat: *mut GaihAddrtuple = std::ptr::null_mut();
    // SAFETY: as above.
    let st = unsafe {
        _nss_pnrp_gethostbyname4_r(
            name.as_ptr(),
            &mut pat,
            small.as_mut_ptr().cast(),
            small.len(),
            &mut errno,
            &mut herrno,
            std::ptr::null_mut(),
        )
    };
    assert_eq!((st, errno), (NSS_STATUS_TRYAGAIN, libc::ERANGE));
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
            assert_eq!(
                std::ffi::CStr::from_ptr(canon).to_str().unwrap(),
                "MyHost.PNRP.net."
            );
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
    // SAFETY: as above.
    let st = unsafe {
        _nss_pnrp_gethostbyname4_r(
            miss.as_ptr(),
            &mut pat,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut errno,
            &mut herrno,
            std::ptr::null_mut(),
        )
    };
    assert_eq!((st, herrno), (NSS_STATUS_NOTFOUND, 1));
    let other = CString::new("example.com").unwrap();
    // SAFETY: as above.
    let st = unsafe {
        _nss_pnrp_gethostbyname4_r(
            other.as_ptr(),
            &mut pat,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut errno,
            &mut herrno,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, NSS_STATUS_UNAVAIL);

    // Daemon unreachable: NOTFOUND, never UNAVAIL.
    let gone = tmp.path().join("nothing.sock");
    assert_eq!(
        query(
            gone.to_str().unwrap(),
            b"myhost.pnrp.net",
            nss_pnrp::frame::Family::Any,
            Duration::from_secs(1)
        ),
        nss_pnrp::nss::Outcome::Miss
    );
    // SAFETY: as above.
    unsafe { std::env::set_var("PNRP_LOOKUP_SOCKET", &gone) };
    // SAFETY: as above.
    let st = unsafe {
        _nss_pnrp_gethostbyname4_r(
            name.as_ptr(),
            &mut pat,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut errno,
            &mut herrno,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, NSS_STATUS_NOTFOUND);
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
         python3 {listener} 2.5 > {tmp}/in-zone & sleep 0.5
         getent hosts myhost.pnrp.net; echo \"rc=$?\"; wait
         python3 {listener} 2.5 > {tmp}/control & sleep 0.5
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
