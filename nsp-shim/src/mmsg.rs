//! Batched datagram I/O: `recvmmsg(2)` and `sendmmsg(2)`, so that a busy
//! stub makes one system call per batch of questions and one per batch of
//! answers instead of one per datagram each way; and the readiness check the
//! polling UDP threads spin on. All `unsafe` of the crate is here.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Largest query kept whole; longer datagrams are seen truncated (and
/// rejected as malformed).
pub(crate) const SLOT: usize = 4096;

/// Receive buffers for up to `n` datagrams, with their sources, and the
/// system-call descriptors, all allocated once and reused for every batch.
pub(crate) struct RecvBatch {
    bufs: Vec<u8>,
    lens: Vec<usize>,
    addrs: Vec<libc::sockaddr_storage>,
    addr_lens: Vec<libc::socklen_t>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// For each answer being sent, the datagram whose source it goes to.
    targets: Vec<usize>,
}

impl core::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("slots", &self.lens.len())
            .finish_non_exhaustive()
    }
}

/// Whether a datagram is queued on `fd` (`poll(2)` with no timeout: it
/// reads the queue without taking the socket's lock).
pub(crate) fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    unsafe { core::mem::zeroed() }
}

impl RecvBatch {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            bufs: vec![0; n * SLOT],
            lens: vec![0; n],
            addrs: vec![zeroed_storage(); n],
            addr_lens: vec![0; n],
            iovs: Vec::with_capacity(n),
            msgs: Vec::with_capacity(n),
            targets: Vec::with_capacity(n),
        }
    }

    /// Fills `msgs[..iovs.len()]` with headers naming `iovs[i]` and the
    /// source slot `slot(i)`.
    fn headers(&mut self, slot: impl Fn(usize) -> usize, recv: bool) {
        self.msgs.clear();
        for i in 0..self.iovs.len() {
            let s = slot(i);
            // SAFETY: msghdr is plain old data; all-zero is valid.
            let mut h: libc::msghdr = unsafe { core::mem::zeroed() };
            h.msg_name = (&raw mut self.addrs[s]).cast();
            h.msg_namelen = if recv {
                size_of::<libc::sockaddr_storage>() as libc::socklen_t
            } else {
                self.addr_lens[s]
            };
            h.msg_iov = &raw mut self.iovs[i];
            h.msg_iovlen = 1;
            self.msgs.push(libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            });
        }
    }

    /// Waits for at least one datagram (or the socket's receive timeout)
    /// and takes as many as are queued, up to the batch size.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.lens.len();
        self.iovs.clear();
        self.iovs
            .extend(self.bufs.chunks_exact_mut(SLOT).map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: SLOT,
            }));
        self.headers(|i| i, true);
        // SAFETY: every pointer in `msgs` points into buffers owned by
        // `self`, which outlive the call and are not otherwise borrowed;
        // lengths match the buffers.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_WAITFORONE,
                core::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got as usize;
        for (i, m) in self.msgs.iter().take(got).enumerate() {
            self.lens[i] = (m.msg_len as usize).min(SLOT);
            self.addr_lens[i] = m.msg_hdr.msg_namelen;
        }
        Ok(got)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`].
    pub(crate) fn datagram(&self, i: usize) -> &[u8] {
        &self.bufs[i * SLOT..i * SLOT + self.lens[i]]
    }

    /// Source of datagram `i`, if it is an IP address.
    pub(crate) fn source(&self, i: usize) -> Option<SocketAddr> {
        let s = &self.addrs[i];
        match i32::from(s.ss_family) {
            libc::AF_INET if self.addr_lens[i] as usize >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let a: &libc::sockaddr_in = unsafe { &*(&raw const *s).cast() };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    u32::from_be(a.sin_addr.s_addr).into(),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if self.addr_lens[i] as usize >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let a: &libc::sockaddr_in6 = unsafe { &*(&raw const *s).cast() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    a.sin6_addr.s6_addr.into(),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Sends `outs[i]` to the source of datagram `i` for every `i` with
    /// `reply[i]`. Errors for single datagrams are ignored, like a lost
    /// answer.
    pub(crate) fn send(&mut self, fd: RawFd, outs: &mut [Vec<u8>], reply: &[bool]) {
        self.iovs.clear();
        let mut targets = core::mem::take(&mut self.targets);
        targets.clear();
        for (i, out) in outs.iter_mut().enumerate().filter(|(i, _)| reply[*i]) {
            targets.push(i);
            self.iovs.push(libc::iovec {
                iov_base: out.as_mut_ptr().cast(),
                iov_len: out.len(),
            });
        }
        self.headers(|k| targets[k], false);
        self.targets = targets;
        let mut done = 0;
        while done < self.msgs.len() {
            // SAFETY: as in `recv`: every pointer refers to live buffers
            // owned by `self` or `outs`.
            let sent = unsafe {
                libc::sendmmsg(
                    fd,
                    self.msgs[done..].as_mut_ptr(),
                    (self.msgs.len() - done) as libc::c_uint,
                    0,
                )
            };
            if sent <= 0 {
                // Skip the datagram that failed (e.g. an unreachable
                // source) and go on with the rest.
                done += 1;
            } else {
                done += sent as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd as _;

    #[test]
    fn a_batch_round_trips_over_loopback() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        for i in 0..5u8 {
            client
                .send_to(&[i; 3], server.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = RecvBatch::new(8);
        let mut seen = 0;
        let mut answers = Vec::new();
        while seen < 5 {
            let n = batch.recv(server.as_raw_fd()).unwrap();
            for i in 0..n {
                assert_eq!(batch.source(i), Some(client.local_addr().unwrap()));
                answers.push(
                    batch
                        .datagram(i)
                        .iter()
                        .map(|b| b + 100)
                        .collect::<Vec<u8>>(),
                );
            }
            let reply = vec![true; n];
            batch.send(server.as_raw_fd(), &mut answers[seen..], &reply);
            seen += n;
        }
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        for _ in 0..5 {
            let n = client.recv(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        got.sort();
        assert_eq!(got, (0..5u8).map(|i| vec![i + 100; 3]).collect::<Vec<_>>());
    }
}
