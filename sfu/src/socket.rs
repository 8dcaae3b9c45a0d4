//! The worker's UDP socket and its operating-system settings: bound
//! non-blocking, with large kernel buffers so that a burst of fan-out
//! (one keyframe to hundreds of subscribers) is not dropped by the kernel,
//! and batched sending with `sendmmsg` (one system call for up to
//! [`BATCH`] datagrams to any destinations).
//!
//! This is the one module of the core that calls the operating system
//! directly; each `unsafe` block says why it is sound.

#![allow(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Kernel buffer sizes asked for; Linux caps them at `net.core.{r,w}mem_max`
/// unless the process may raise them.
pub const RECV_BUFFER_BYTES: usize = 8 << 20;
pub const SEND_BUFFER_BYTES: usize = 8 << 20;

/// Bind a non-blocking UDP socket with large buffers.
pub fn bind_media_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer than asked for still works.
    if let Err(e) = socket.set_recv_buffer_size(RECV_BUFFER_BYTES) {
        tracing::warn!(error = %e, "could not enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(SEND_BUFFER_BYTES) {
        tracing::warn!(error = %e, "could not enlarge the UDP send buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let granted = (socket.recv_buffer_size()?, socket.send_buffer_size()?);
    if granted.0 < RECV_BUFFER_BYTES / 2 {
        tracing::info!(
            recv = granted.0,
            send = granted.1,
            "UDP buffers are small; raise net.core.rmem_max and wmem_max for large rooms"
        );
    }
    Ok(socket.into())
}

/// Messages per `sendmmsg` call.
pub const BATCH: usize = 64;
/// Datagrams one GSO message may carry (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// Bytes one GSO message may carry (an IP datagram's payload).
const MAX_GSO_BYTES: usize = 65_000;

/// Whether the kernel can split one large send into equal UDP datagrams
/// (`UDP_SEGMENT`, Linux 4.18 and later).
pub fn gso_supported(socket: &impl AsRawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live, and `len` is `value`'s size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0
}

/// One message of a batch: consecutive datagrams to one destination, all of
/// one size but the last, which may be shorter (what GSO can send at once).
#[derive(Clone, Copy)]
struct Message {
    first_iov: usize,
    segments: usize,
    segment_size: usize,
    /// A shorter datagram ended it: nothing more may join.
    closed: bool,
}

/// Room for one `UDP_SEGMENT` control message (a `u16`), 8-byte aligned.
#[derive(Clone, Copy, Default)]
#[repr(C, align(8))]
struct SegmentCmsg([u8; 32]);

/// Reusable buffers for batched sends: nothing is allocated per call once
/// they have grown. Consecutive datagrams to one destination go out as one
/// GSO message when the kernel supports it: one trip through the network
/// stack instead of one per datagram.
pub struct BatchSender {
    gso: bool,
    dests: Vec<SocketAddr>,
    addrs: Vec<SockAddr>,
    iovecs: Vec<libc::iovec>,
    messages: Vec<Message>,
    cmsgs: Vec<SegmentCmsg>,
    headers: Vec<libc::mmsghdr>,
}

impl Default for BatchSender {
    fn default() -> Self {
        BatchSender::new(false)
    }
}

/// Why datagrams of a batch were not sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    pub sent: usize,
    /// The send buffer was full (the rest of that call was dropped).
    pub would_block: usize,
    /// Other errors (unreachable destination...); those datagrams are skipped.
    pub failed: usize,
}

impl BatchSender {
    /// `gso`: merge datagrams to one destination (see [`gso_supported`]).
    pub fn new(gso: bool) -> Self {
        BatchSender {
            gso,
            dests: Vec::with_capacity(BATCH),
            addrs: Vec::with_capacity(BATCH),
            iovecs: Vec::with_capacity(BATCH * 4),
            messages: Vec::with_capacity(BATCH),
            cmsgs: vec![SegmentCmsg::default(); BATCH],
            headers: Vec::with_capacity(BATCH),
        }
    }

    /// Whether datagrams are merged with GSO.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Send every `(destination, payload)`, up to `BATCH` messages per
    /// system call.
    pub fn send<'a>(
        &mut self,
        socket: &impl AsRawFd,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut iter = datagrams.into_iter().peekable();
        while iter.peek().is_some() {
            self.gather(&mut iter);
            self.build_headers();
            self.send_gathered(socket, &mut outcome);
        }
        outcome
    }

    /// Take datagrams into at most `BATCH` messages.
    fn gather<'a, I: Iterator<Item = (SocketAddr, &'a [u8])>>(
        &mut self,
        iter: &mut std::iter::Peekable<I>,
    ) {
        self.dests.clear();
        self.addrs.clear();
        self.iovecs.clear();
        self.messages.clear();
        while let Some(&(dest, payload)) = iter.peek() {
            let iov = libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            };
            let joins_last = self.gso
                && self.dests.last() == Some(&dest)
                && self.messages.last().is_some_and(|m| {
                    !m.closed
                        && payload.len() <= m.segment_size
                        && m.segments < MAX_SEGMENTS
                        && (m.segments + 1) * m.segment_size <= MAX_GSO_BYTES
                });
            if joins_last {
                let last = self.messages.last_mut().expect("checked above");
                last.segments += 1;
                last.closed = payload.len() < last.segment_size;
            } else if self.messages.len() == BATCH {
                return;
            } else {
                self.messages.push(Message {
                    first_iov: self.iovecs.len(),
                    segments: 1,
                    segment_size: payload.len(),
                    closed: false,
                });
                self.dests.push(dest);
                self.addrs.push(SockAddr::from(dest));
            }
            self.iovecs.push(iov);
            iter.next();
        }
    }

    fn build_headers(&mut self) {
        self.headers.clear();
        for (i, (m, addr)) in self.messages.iter().zip(&self.addrs).enumerate() {
            // SAFETY: an all-zero msghdr is a valid empty header; the pointers
            // set below stay valid until the send returns, as `addrs`,
            // `iovecs` and `cmsgs` are not touched until then.
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
            hdr.msg_hdr.msg_namelen = addr.len();
            hdr.msg_hdr.msg_iov = self.iovecs[m.first_iov..].as_mut_ptr();
            hdr.msg_hdr.msg_iovlen = m.segments as _;
            if m.segments > 1 {
                let buf = &mut self.cmsgs[i];
                hdr.msg_hdr.msg_control = buf.0.as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE only computes a size.
                hdr.msg_hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
                // SAFETY: the header's control buffer is `buf`, 32 aligned
                // bytes, room for one cmsghdr and a u16 (CMSG_SPACE(2) = 24).
                unsafe {
                    let cmsg = libc::CMSG_FIRSTHDR(&hdr.msg_hdr);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(2) as _;
                    std::ptr::write_unaligned(
                        libc::CMSG_DATA(cmsg).cast::<u16>(),
                        m.segment_size as u16,
                    );
                }
            }
            self.headers.push(hdr);
        }
    }

    fn send_gathered(&mut self, socket: &impl AsRawFd, outcome: &mut BatchOutcome) {
        let mut done = 0;
        while done < self.headers.len() {
            let rest = &mut self.headers[done..];
            // SAFETY: `rest` points to `rest.len()` initialised headers whose
            // name, iovec and control pointers refer to live buffers (see
            // `build_headers`); the payloads outlive this call.
            let n = unsafe {
                libc::sendmmsg(socket.as_raw_fd(), rest.as_mut_ptr(), rest.len() as u32, 0)
            };
            if n > 0 {
                let n = n as usize;
                outcome.sent += self.messages[done..done + n]
                    .iter()
                    .map(|m| m.segments)
                    .sum::<usize>();
                done += n;
                continue;
            }
            let err = io::Error::last_os_error();
            let segments =
                |from: usize| -> usize { self.messages[from..].iter().map(|m| m.segments).sum() };
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    outcome.would_block += segments(done);
                    break;
                }
                _ => {
                    // The first message failed (bad destination, or a device
                    // that cannot segment): skip it; stop merging if GSO failed.
                    let m = self.messages[done];
                    if m.segments > 1
                        && matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL))
                    {
                        tracing::warn!(error = %err, "UDP GSO failed; sending datagrams one by one");
                        self.gso = false;
                    }
                    outcome.failed += m.segments;
                    done += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_non_blocking_with_some_buffer() {
        let s = bind_media_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let e = s.recv_from(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let sock = Socket::from(s);
        assert!(sock.recv_buffer_size().unwrap() > 0);
    }

    #[test]
    fn batches_reach_every_destination_in_order() {
        let sender = bind_media_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let receivers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let payloads: Vec<Vec<u8>> = (0..150u8).map(|i| vec![i; 100 + i as usize]).collect();
        let datagrams = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (receivers[i % 3].local_addr().unwrap(), p.as_slice()));
        let mut batch = BatchSender::default();
        let outcome = batch.send(&sender, datagrams);
        assert_eq!(
            outcome,
            BatchOutcome {
                sent: 150,
                would_block: 0,
                failed: 0
            }
        );
        let mut buf = [0u8; 2048];
        for (r, receiver) in receivers.iter().enumerate() {
            receiver
                .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            for i in (r..150).step_by(3) {
                let (n, from) = receiver.recv_from(&mut buf).unwrap();
                assert_eq!(from, sender.local_addr().unwrap());
                assert_eq!(
                    &buf[..n],
                    payloads[i].as_slice(),
                    "datagram {i} intact and in order"
                );
            }
        }
    }

    #[test]
    fn gso_merges_runs_to_one_destination_and_each_datagram_arrives_whole() {
        let sender = bind_media_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        if !gso_supported(&sender) {
            eprintln!("this kernel has no UDP GSO; nothing to test");
            return;
        }
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Runs GSO can merge (equal sizes, a shorter last), runs it cannot
        // (a longer datagram after a shorter one), and interleaved destinations.
        let sizes_a = [1000, 1000, 1000, 400, 1200, 1200, 300, 1000, 80];
        let payloads: Vec<Vec<u8>> = sizes_a
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![i as u8; n])
            .collect();
        let mut datagrams: Vec<(SocketAddr, &[u8])> = payloads
            .iter()
            .map(|p| (a.local_addr().unwrap(), p.as_slice()))
            .collect();
        let for_b = vec![7u8; 500];
        datagrams.insert(6, (b.local_addr().unwrap(), &for_b));
        // Many equal datagrams to one place: more than one message may hold.
        let many: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 1100]).collect();
        datagrams.extend(many.iter().map(|p| (b.local_addr().unwrap(), p.as_slice())));
        let mut batch = BatchSender::new(true);
        let outcome = batch.send(&sender, datagrams.iter().copied());
        assert_eq!(outcome.sent, datagrams.len(), "{outcome:?}");
        assert!(batch.gso(), "GSO kept working");
        let mut buf = [0u8; 65536];
        a.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        for p in &payloads {
            let (n, _) = a.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], p.as_slice(), "datagram to a intact, in order");
        }
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], for_b.as_slice());
        for p in &many {
            let (n, _) = b.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], p.as_slice(), "datagram to b intact, in order");
        }
    }
}
