//! The glibc entry points and everything they need: the daemon query, the
//! packing of answers into the caller's buffer, and the single mapping of
//! outcomes to `(nss_status, errno, h_errno)`.
//!
//! Rules (design §6; house style §3.5):
//!
//! * names outside `pnrp.net` → `NSS_STATUS_UNAVAIL` before any I/O;
//! * in-zone misses, timeouts and an unreachable daemon → `NSS_STATUS_NOTFOUND`
//!   (never UNAVAIL: a `*.pnrp.net` query must not fall through to DNS);
//! * a buffer too small → `NSS_STATUS_TRYAGAIN` with `ERANGE`, nothing written;
//! * first the daemon's host table (`hosts.table` beside the socket: open,
//!   one `pread`, close; [`crate::table`]); anything but a live, intact slot
//!   for the name sends the lookup on to the daemon;
//! * one connection, one request, one answer, within a budget (default 2 s,
//!   `PNRP_NSS_TIMEOUT_MS`); the remainder of the budget is sent to the
//!   daemon;
//! * no threads, no global state; a panic never unwinds into glibc.

use core::ffi::{c_char, c_int};
use core::mem::{align_of, size_of};
use std::ffi::CStr;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::frame::{self, Addr, Family, HostRequest, Status};

/// `enum nss_status` values.
pub const NSS_STATUS_TRYAGAIN: c_int = -2;
/// See [`NSS_STATUS_TRYAGAIN`].
pub const NSS_STATUS_UNAVAIL: c_int = -1;
/// See [`NSS_STATUS_TRYAGAIN`].
pub const NSS_STATUS_NOTFOUND: c_int = 0;
/// See [`NSS_STATUS_TRYAGAIN`].
pub const NSS_STATUS_SUCCESS: c_int = 1;

const HOST_NOT_FOUND: c_int = 1;
const NO_RECOVERY: c_int = 3;
const NETDB_INTERNAL: c_int = -1;
const NETDB_SUCCESS: c_int = 0;

/// Default socket of the daemon.
pub const DEFAULT_SOCKET: &str = "/run/pnrp/lookup.sock";
/// Default and largest budget of one lookup.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(2000);

/// glibc's `struct gaih_addrtuple`.
#[repr(C)]
#[derive(Debug)]
pub struct GaihAddrtuple {
    /// Next tuple or NULL.
    pub next: *mut Self,
    /// Canonical name (NUL-terminated).
    pub name: *mut c_char,
    /// AF_INET or AF_INET6.
    pub family: c_int,
    /// The address (IPv4 in the first word).
    pub addr: [u32; 4],
    /// Scope id.
    pub scopeid: u32,
}

/// What a lookup came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The name is not ours: let the next module answer.
    NotOurs,
    /// Addresses.
    Found(Vec<Addr>),
    /// In the zone but not found, timed out, or the daemon is unreachable.
    Miss,
}

unsafe extern "C" {
    /// glibc: like getenv, but NULL in setuid/setgid programs.
    fn secure_getenv(name: *const c_char) -> *mut c_char;
}

fn env(name: &CStr) -> Option<String> {
    // SAFETY: `name` is NUL-terminated; secure_getenv returns NULL or a
    // pointer into the environment, valid until the environment changes
    // (we copy at once). secure_getenv ignores the variable in setuid
    // programs.
    let p = unsafe { secure_getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null NUL-terminated string from the environment.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Where the daemon listens: `PNRP_LOOKUP_SOCKET` (secure_getenv) or
/// [`DEFAULT_SOCKET`].
pub fn socket_path() -> String {
    env(c"PNRP_LOOKUP_SOCKET").unwrap_or_else(|| DEFAULT_SOCKET.into())
}

/// The budget: `PNRP_NSS_TIMEOUT_MS` (1–60,000) or [`DEFAULT_BUDGET`].
pub fn budget() -> Duration {
    env(c"PNRP_NSS_TIMEOUT_MS")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (1..=60_000).contains(ms))
        .map_or(DEFAULT_BUDGET, Duration::from_millis)
}

/// Looks `name` up: first in the daemon's host table next to `socket`
/// ([`crate::table`]; no daemon wake-up), then by asking the daemon at
/// `socket`. Every failure is a miss.
pub fn query(socket: &str, name: &[u8], family: Family, budget: Duration) -> Outcome {
    if !crate::is_in_zone(name) {
        return Outcome::NotOurs;
    }
    match from_table(socket, name, family) {
        Some(addrs) => Outcome::Found(addrs),
        None => query_daemon(socket, name, family, budget),
    }
}

/// The answer in the host table beside `socket`, if there is a live one.
fn from_table(socket: &str, name: &[u8], family: Family) -> Option<Vec<Addr>> {
    let mut buf = [0u8; crate::table::MAX_PATH];
    let path = crate::table::path_for_socket(socket, &mut buf)?;
    crate::table::lookup_file(path, name, family)
}

/// What the entry points run: [`query`] with the socket and budget from
/// the environment, the budget read only when the table cannot answer.
fn lookup(name: &[u8], family: Family) -> Outcome {
    let socket = socket_path();
    match from_table(&socket, name, family) {
        Some(addrs) => Outcome::Found(addrs),
        None => query_daemon(&socket, name, family, budget()),
    }
}

/// Asks the daemon at `socket` about `name` (the table is not consulted).
/// Every failure is a miss.
pub fn query_daemon(socket: &str, name: &[u8], family: Family, budget: Duration) -> Outcome {
    if !crate::is_in_zone(name) {
        return Outcome::NotOurs;
    }
    let start = Instant::now();
    let Some(req) = (HostRequest {
        family,
        budget_ms: u16::try_from(budget.as_millis()).unwrap_or(u16::MAX),
        name,
    })
    .encode() else {
        return Outcome::Miss;
    };
    let Ok(mut s) = UnixStream::connect(socket) else {
        return Outcome::Miss;
    };
    // The daemon gets the budget minus what connecting took; the socket
    // waits a little longer for its answer.
    let left = budget.saturating_sub(start.elapsed());
    if left.is_zero() {
        return Outcome::Miss;
    }
    let _ = s.set_write_timeout(Some(left));
    let _ = s.set_read_timeout(Some(left + Duration::from_millis(100)));
    if s.write_all(&req).is_err() {
        return Outcome::Miss;
    }
    let mut head = [0u8; 6];
    if s.read_exact(&mut head).is_err() {
        return Outcome::Miss;
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if head[4] != frame::VERSION
        || head[5] != frame::KIND_HOST_RESPONSE
        || !(8..=2048).contains(&len)
    {
        return Outcome::Miss;
    }
    let mut body = vec![0u8; len - 2];
    if s.read_exact(&mut body).is_err() {
        return Outcome::Miss;
    }
    match frame::decode_response(&body) {
        Some(r) if r.status == Status::Found && !r.addrs.is_empty() => Outcome::Found(r.addrs),
        _ => Outcome::Miss,
    }
}

/// The single mapping of failures to NSS triples.
fn fail(
    status: c_int,
    errno: c_int,
    h_errno: c_int,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: glibc passes valid pointers for errnop and h_errnop.
    unsafe {
        if !errnop.is_null() {
            *errnop = errno;
        }
        if !h_errnop.is_null() {
            *h_errnop = h_errno;
        }
    }
    status
}

fn not_ours(errnop: *mut c_int, h_errnop: *mut c_int) -> c_int {
    fail(
        NSS_STATUS_UNAVAIL,
        libc::EINVAL,
        NO_RECOVERY,
        errnop,
        h_errnop,
    )
}

fn miss(errnop: *mut c_int, h_errnop: *mut c_int) -> c_int {
    fail(
        NSS_STATUS_NOTFOUND,
        libc::ENOENT,
        HOST_NOT_FOUND,
        errnop,
        h_errnop,
    )
}

fn too_small(errnop: *mut c_int, h_errnop: *mut c_int) -> c_int {
    fail(
        NSS_STATUS_TRYAGAIN,
        libc::ERANGE,
        NETDB_INTERNAL,
        errnop,
        h_errnop,
    )
}

fn align_up(off: usize, align: usize) -> usize {
    off.div_ceil(align) * align
}

/// Runs an entry point body, turning a panic into a miss for in-zone names.
fn guarded(
    name: *const c_char,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    body: impl FnOnce(&[u8]) -> c_int,
) -> c_int {
    if name.is_null() {
        return not_ours(errnop, h_errnop);
    }
    // SAFETY: glibc passes a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    if !crate::is_in_zone(name) {
        return not_ours(errnop, h_errnop);
    }
    let saved = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(name)))
        .unwrap_or_else(|_| miss(errnop, h_errnop));
    if status == NSS_STATUS_SUCCESS {
        // Leave errno as the caller had it.
        // SAFETY: __errno_location is always valid in a running thread.
        unsafe { *libc::__errno_location() = saved };
    }
    status
}

/// `gethostbyname4_r`: both families in one chain (the getaddrinfo path).
///
/// # Safety
///
/// glibc's contract: `name` NUL-terminated, `pat`, `errnop`, `h_errnop`
/// valid, `buffer` valid for `buflen` bytes, `ttlp` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname4_r(
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> c_int {
    guarded(name, errnop, h_errnop, |name| {
        let Outcome::Found(addrs) = lookup(name, Family::Any) else {
            return miss(errnop, h_errnop);
        };
        // Layout: name\0, pad, tuples.
        let name_len = name.len() + 1;
        let tuples_at = align_up(name_len, align_of::<GaihAddrtuple>());
        let need = tuples_at + addrs.len() * size_of::<GaihAddrtuple>();
        if buffer.is_null() || buflen < need || pat.is_null() {
            return too_small(errnop, h_errnop);
        }
        // SAFETY: `buffer` holds at least `need` bytes (checked above); the
        // tuples are written at an aligned offset inside it.
        unsafe {
            let base = buffer.cast::<u8>();
            core::ptr::copy_nonoverlapping(name.as_ptr(), base, name.len());
            *base.add(name.len()) = 0;
            let first = base.add(tuples_at).cast::<GaihAddrtuple>();
            for (i, a) in addrs.iter().enumerate() {
                let t = first.add(i);
                let (family, words) = match a {
                    Addr::V4(v4) => (libc::AF_INET, [u32::from_ne_bytes(*v4), 0, 0, 0]),
                    Addr::V6(v6) => {
                        let mut w = [0u32; 4];
                        for (k, chunk) in v6.chunks_exact(4).enumerate() {
                            w[k] = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                        }
                        (libc::AF_INET6, w)
                    }
                };
                t.write(GaihAddrtuple {
                    next: if i + 1 < addrs.len() {
                        first.add(i + 1)
                    } else {
                        core::ptr::null_mut()
                    },
                    name: buffer,
                    family,
                    addr: words,
                    scopeid: 0,
                });
            }
            if (*pat).is_null() {
                *pat = first;
            } else {
                core::ptr::copy_nonoverlapping(first, *pat, 1);
            }
            if !ttlp.is_null() {
                *ttlp = 10;
            }
            if !h_errnop.is_null() {
                *h_errnop = NETDB_SUCCESS;
            }
        }
        NSS_STATUS_SUCCESS
    })
}

/// `gethostbyname3_r`: one family, filling a `struct hostent`.
///
/// # Safety
///
/// glibc's contract, as for [`_nss_pnrp_gethostbyname4_r`]; `host` valid,
/// `canonp` NULL or valid.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname3_r(
    name: *const c_char,
    af: c_int,
    host: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> c_int {
    // AF_UNSPEC means IPv4 on this path (as nss-mdns does).
    let af = if af == libc::AF_UNSPEC {
        libc::AF_INET
    } else {
        af
    };
    if af != libc::AF_INET && af != libc::AF_INET6 {
        return fail(
            NSS_STATUS_UNAVAIL,
            libc::EAFNOSUPPORT,
            NO_RECOVERY,
            errnop,
            h_errnop,
        );
    }
    guarded(name, errnop, h_errnop, |name| {
        let family = if af == libc::AF_INET {
            Family::V4
        } else {
            Family::V6
        };
        let Outcome::Found(addrs) = lookup(name, family) else {
            return miss(errnop, h_errnop);
        };
        let raw: Vec<Vec<u8>> = addrs
            .iter()
            .filter_map(|a| match (a, af) {
                (Addr::V4(v4), libc::AF_INET) => Some(v4.to_vec()),
                (Addr::V6(v6), libc::AF_INET6) => Some(v6.to_vec()),
                _ => None,
            })
            .collect();
        if raw.is_empty() {
            return miss(errnop, h_errnop);
        }
        let alen = if af == libc::AF_INET { 4 } else { 16 };
        let ptr = size_of::<*mut c_char>();
        // Layout: name\0, pad, aliases [NULL], addr_list [n + 1], addresses.
        let aliases_at = align_up(name.len() + 1, ptr);
        let list_at = aliases_at + ptr;
        let addrs_at = list_at + ptr * (raw.len() + 1);
        let need = addrs_at + alen * raw.len();
        if buffer.is_null() || host.is_null() || buflen < need {
            return too_small(errnop, h_errnop);
        }
        // SAFETY: `buffer` holds at least `need` bytes (checked); pointer
        // slots are at pointer-aligned offsets.
        unsafe {
            let base = buffer.cast::<u8>();
            core::ptr::copy_nonoverlapping(name.as_ptr(), base, name.len());
            *base.add(name.len()) = 0;
            let aliases = base.add(aliases_at).cast::<*mut c_char>();
            *aliases = core::ptr::null_mut();
            let list = base.add(list_at).cast::<*mut c_char>();
            for (i, a) in raw.iter().enumerate() {
                let dst = base.add(addrs_at + i * alen);
                core::ptr::copy_nonoverlapping(a.as_ptr(), dst, alen);
                *list.add(i) = dst.cast::<c_char>();
            }
            *list.add(raw.len()) = core::ptr::null_mut();
            (*host).h_name = buffer;
            (*host).h_aliases = aliases;
            (*host).h_addrtype = af;
            (*host).h_length = alen as c_int;
            (*host).h_addr_list = list;
            if !ttlp.is_null() {
                *ttlp = 10;
            }
            if !canonp.is_null() {
                *canonp = buffer;
            }
            if !h_errnop.is_null() {
                *h_errnop = NETDB_SUCCESS;
            }
        }
        NSS_STATUS_SUCCESS
    })
}

/// `gethostbyname2_r`.
///
/// # Safety
///
/// As [`_nss_pnrp_gethostbyname3_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    host: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: the caller's contract is passed through unchanged.
    unsafe {
        _nss_pnrp_gethostbyname3_r(
            name,
            af,
            host,
            buffer,
            buflen,
            errnop,
            h_errnop,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    }
}

/// `gethostbyname_r` (IPv4).
///
/// # Safety
///
/// As [`_nss_pnrp_gethostbyname3_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname_r(
    name: *const c_char,
    host: *mut libc::hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: the caller's contract is passed through unchanged.
    unsafe {
        _nss_pnrp_gethostbyname3_r(
            name,
            libc::AF_INET,
            host,
            buffer,
            buflen,
            errnop,
            h_errnop,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    }
}
