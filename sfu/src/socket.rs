//! The worker's UDP socket and its operating-system settings: bound
//! non-blocking, with large kernel buffers so that a burst of fan-out
//! (one keyframe to hundreds of subscribers) is not dropped by the kernel.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

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
}
