//! The host's addresses (getifaddrs), for clouds bound to a wildcard
//! address: the engine needs concrete endpoints for route entries and CPAs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfAddr {
    pub(crate) ifname: String,
    pub(crate) addr: IpAddr,
}

/// Every address of every interface that is up.
pub(crate) fn addresses() -> Vec<IfAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list returned by getifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & (libc::IFF_UP as u32) == 0 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null; the family says which struct it is.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let addr = if family == libc::AF_INET {
            // SAFETY: AF_INET ⇒ sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        } else if family == libc::AF_INET6 {
            // SAFETY: AF_INET6 ⇒ sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
        } else {
            continue;
        };
        out.push(IfAddr { ifname, addr });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// A link-local IPv6 address of a (non-loopback) interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkAddr {
    pub(crate) ifname: String,
    pub(crate) index: u32,
    pub(crate) addr: Ipv6Addr,
}

/// One link-local IPv6 address per interface that has one (the first, in
/// the kernel's order), for the `LinkLocal_<ifname>` clouds.
pub(crate) fn link_local_addresses() -> Vec<LinkAddr> {
    let mut out: Vec<LinkAddr> = Vec::new();
    for a in addresses() {
        let IpAddr::V6(v6) = a.addr else { continue };
        if !is_link_local(&a.addr) || out.iter().any(|l| l.ifname == a.ifname) {
            continue;
        }
        let Ok(c) = std::ffi::CString::new(a.ifname.clone()) else {
            continue;
        };
        // SAFETY: `c` is a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if index != 0 {
            out.push(LinkAddr {
                ifname: a.ifname,
                index,
                addr: v6,
            });
        }
    }
    out
}

fn is_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(v4) => v4.is_link_local(),
    }
}

/// The endpoints a cloud bound to `listen` advertises: the address itself
/// if it is specific, else up to four of the host's non-link-local
/// addresses (global first), else loopback.
pub(crate) fn local_endpoints(listen: SocketAddr) -> Vec<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen];
    }
    let mut addrs: Vec<IpAddr> = addresses()
        .into_iter()
        .map(|a| a.addr)
        .filter(|a| !a.is_loopback() && !is_link_local(a))
        .filter(|a| listen.is_ipv6() || a.is_ipv4())
        .collect();
    // Global IPv6 first, then IPv4 (stable order).
    addrs.sort_by_key(|a| (a.is_ipv4(), *a));
    addrs.dedup();
    addrs.truncate(4);
    if addrs.is_empty() {
        addrs.push(if listen.is_ipv6() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        });
    }
    addrs
        .into_iter()
        .map(|a| SocketAddr::new(a, listen.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        assert!(addresses().iter().any(|a| a.addr.is_loopback()));
    }

    #[test]
    fn specific_listen_address_is_its_own_endpoint() {
        let l: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        assert_eq!(local_endpoints(l), vec![l]);
        let any: SocketAddr = "[::]:3540".parse().unwrap();
        let eps = local_endpoints(any);
        assert!((1..=4).contains(&eps.len()));
        assert!(eps.iter().all(|e| e.port() == 3540));
    }
}
