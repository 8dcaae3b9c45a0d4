//! The bots' UDP sockets and their operating-system settings, through
//! `quinn-udp`: batched receiving (`recvmmsg`, and GRO where the kernel
//! coalesces a flow's datagrams), the destination address of each datagram
//! (`IP_PKTINFO`) and the source address of each send. That is what lets one
//! socket bound to `0.0.0.0` serve hundreds of peers, each with its own
//! loopback address (127.1.x.y): the server still sees one address per peer,
//! and the bots read everything with one system call per batch.
//!
//! Nothing here blocks: the socket is non-blocking and a send the kernel
//! refuses is reported, not retried.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

/// Kernel buffer sizes asked for (forced past `rmem_max` when allowed).
const BUFFER_BYTES: usize = 8 << 20;
/// Datagram slots per receive call.
pub const BATCH: usize = 32;
/// One slot holds what GRO may coalesce (up to 64 datagrams of a flow).
const SLOT: usize = 64 * 1024;

/// A non-blocking UDP socket.
#[derive(Debug)]
pub struct MediaSocket {
    io: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
}

impl MediaSocket {
    /// Bind `addr` with large buffers.
    pub fn bind(addr: SocketAddr) -> io::Result<MediaSocket> {
        let io = UdpSocket::bind(addr)?;
        io.set_nonblocking(true)?;
        enlarge_buffers(&io);
        let state = UdpSocketState::new((&io).into())?;
        let local = io.local_addr()?;
        Ok(MediaSocket { io, state, local })
    }

    /// A socket on all IPv4 addresses, to share between loopback peers.
    pub fn bind_shared() -> io::Result<MediaSocket> {
        MediaSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }

    /// Send one datagram from `src` (an address of this host).
    pub fn send(&self, src: IpAddr, to: SocketAddr, data: &[u8]) -> io::Result<()> {
        let t = Transmit {
            destination: to,
            ecn: None,
            contents: data,
            segment_size: None,
            src_ip: Some(src),
        };
        self.state.try_send((&self.io).into(), &t)
    }

    /// Read one batch into `bufs`; `Ok(0)` when nothing is waiting.
    pub fn recv(&self, bufs: &mut RecvBufs) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> =
            bufs.data.chunks_mut(SLOT).map(IoSliceMut::new).collect();
        match self
            .state
            .recv((&self.io).into(), &mut slices, &mut bufs.meta)
        {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Best effort: a smaller buffer than asked for still works.
fn enlarge_buffers(io: &UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(io, sockopt::RcvBufForce, &BUFFER_BYTES).is_err() {
        let _ = setsockopt(io, sockopt::RcvBuf, &BUFFER_BYTES);
    }
    if setsockopt(io, sockopt::SndBufForce, &BUFFER_BYTES).is_err() {
        let _ = setsockopt(io, sockopt::SndBuf, &BUFFER_BYTES);
    }
}

/// Buffers of one receive call, kept by the caller and reused.
pub struct RecvBufs {
    data: Vec<u8>,
    meta: Vec<RecvMeta>,
}

impl Default for RecvBufs {
    fn default() -> Self {
        RecvBufs {
            data: vec![0; SLOT * BATCH],
            meta: vec![RecvMeta::default(); BATCH],
        }
    }
}

impl RecvBufs {
    /// The datagrams of the first `n` slots: (source, destination IP, bytes).
    pub fn datagrams(&self, n: usize) -> impl Iterator<Item = (SocketAddr, Option<IpAddr>, &[u8])> {
        self.meta[..n]
            .iter()
            .zip(self.data.chunks(SLOT))
            .flat_map(|(m, slot)| {
                let stride = if m.stride == 0 { m.len } else { m.stride };
                slot[..m.len]
                    .chunks(stride.max(1))
                    .map(move |d| (m.addr, m.dst_ip, d))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shared_socket_tells_loopback_addresses_apart() {
        let shared = MediaSocket::bind_shared().unwrap();
        let port = shared.local_addr().port();
        let other = MediaSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let a: IpAddr = "127.1.0.7".parse().unwrap();
        let b: IpAddr = "127.1.0.8".parse().unwrap();
        other
            .send(
                "127.0.0.1".parse().unwrap(),
                SocketAddr::new(a, port),
                b"to a",
            )
            .unwrap();
        other
            .send(
                "127.0.0.1".parse().unwrap(),
                SocketAddr::new(b, port),
                b"to b",
            )
            .unwrap();
        let mut bufs = RecvBufs::default();
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = shared.recv(&mut bufs).unwrap();
            got.extend(bufs.datagrams(n).map(|(_, dst, d)| (dst, d.to_vec())));
            if got.len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            got,
            vec![(Some(a), b"to a".to_vec()), (Some(b), b"to b".to_vec())]
        );
        // And a reply leaves from the address it was sent to.
        shared.send(a, other.local_addr(), b"from a").unwrap();
        let mut from = None;
        for _ in 0..100 {
            let n = other.recv(&mut bufs).unwrap();
            if let Some((src, _, d)) = bufs.datagrams(n).next() {
                assert_eq!(d, b"from a");
                from = Some(src);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(from, Some(SocketAddr::new(a, port)));
    }
}
