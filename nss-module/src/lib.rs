//! `libnss_pnrp.so.2`: the glibc NSS module that resolves `*.pnrp.net`
//! through the local `pnrpd` (design §6).
//!
//! This crate is a guest in arbitrary processes: no tokio, no threads, no
//! logging, no global state, and every entry point is wrapped so that a
//! panic can never unwind into glibc. [`is_in_zone`] is the gate every
//! entry point runs before any I/O: names outside `pnrp.net` are answered
//! `NSS_STATUS_UNAVAIL` without a single system call. The entry points
//! (`_nss_pnrp_gethostbyname{4,3,2,}_r`) are in [`nss`]; the binary host
//! lookup they send to `pnrpd` is in [`frame`]; the shared host table they
//! read first, without waking the daemon, is in [`table`]. Only the four
//! entry points are exported (`nss_pnrp.map`); the soname is
//! `libnss_pnrp.so.2`.

pub mod frame;
pub mod nss;
pub mod table;

/// The zone this module answers for.
pub const ZONE: &[u8] = b"pnrp.net";

/// Whether `name` (as glibc hands it over: bytes, any letter case, optional
/// trailing dot) lies strictly inside `pnrp.net`. Performs no allocation and
/// no system call.
pub fn is_in_zone(name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    // At least one label, a dot, then the zone.
    let Some(split) = name.len().checked_sub(ZONE.len() + 1) else {
        return false;
    };
    split > 0 && name[split] == b'.' && name[split + 1..].eq_ignore_ascii_case(ZONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_gate_accepts_names_under_pnrp_net_in_any_case() {
        for n in [
            &b"myhost.pnrp.net"[..],
            b"MyHost.PNRP.NET",
            b"a.b.pnrp.net.",
            b"x.pnrp.net",
        ] {
            assert!(is_in_zone(n), "{}", String::from_utf8_lossy(n));
        }
    }

    #[test]
    fn zone_gate_refuses_everything_else() {
        for n in [
            &b""[..],
            b".",
            b"pnrp.net",
            b"pnrp.net.",
            b".pnrp.net",
            b"example.com",
            b"xpnrp.net",
            b"host.pnrp.net.evil",
            b"host.pnrp.nett",
        ] {
            assert!(!is_in_zone(n), "{}", String::from_utf8_lossy(n));
        }
    }
}
