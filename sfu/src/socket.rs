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

/// Datagrams per `sendmmsg` call.
pub const BATCH: usize = 64;

/// Reusable buffers for batched sends: nothing is allocated per call.
pub struct BatchSender {
    addrs: Vec<SockAddr>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl Default for BatchSender {
    fn default() -> Self {
        BatchSender {
            addrs: Vec::with_capacity(BATCH),
            iovecs: Vec::with_capacity(BATCH),
            headers: Vec::with_capacity(BATCH),
        }
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
    /// Send every `(destination, payload)`, `BATCH` per system call.
    pub fn send<'a>(
        &mut self,
        socket: &impl AsRawFd,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut iter = datagrams.into_iter().peekable();
        while iter.peek().is_some() {
            self.addrs.clear();
            self.iovecs.clear();
            for (dest, payload) in iter.by_ref().take(BATCH) {
                self.addrs.push(SockAddr::from(dest));
                self.iovecs.push(libc::iovec {
                    iov_base: payload.as_ptr() as *mut libc::c_void,
                    iov_len: payload.len(),
                });
            }
            self.headers.clear();
            for (addr, iov) in self.addrs.iter().zip(self.iovecs.iter_mut()) {
                // SAFETY: an all-zero msghdr is a valid empty header; the
                // pointers set below stay valid until the call returns, as
                // `addrs` and `iovecs` are not touched until then.
                let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
                hdr.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
                hdr.msg_hdr.msg_namelen = addr.len();
                hdr.msg_hdr.msg_iov = iov as *mut libc::iovec;
                hdr.msg_hdr.msg_iovlen = 1;
                self.headers.push(hdr);
            }
            let mut done = 0;
            while done < self.headers.len() {
                let rest = &mut self.headers[done..];
                // SAFETY: `rest` points to `rest.len()` initialised headers
                // whose name and iovec pointers refer to live buffers (above);
                // the payloads outlive this call by the iterator's lifetime.
                let n = unsafe {
                    libc::sendmmsg(socket.as_raw_fd(), rest.as_mut_ptr(), rest.len() as u32, 0)
                };
                if n > 0 {
                    done += n as usize;
                    outcome.sent += n as usize;
                    continue;
                }
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        outcome.would_block += rest.len();
                        break;
                    }
                    _ => {
                        // The first datagram failed (bad destination): skip it.
                        outcome.failed += 1;
                        done += 1;
                    }
                }
            }
        }
        outcome
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
}
