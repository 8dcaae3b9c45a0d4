//! relais patch: output buffers for SRTP packets, reused per thread.
//!
//! `SrtpContext::protect_rtp` allocated (and zeroed) a fresh `Vec` for every
//! packet it encrypted; an SFU that forwards a packet to hundreds of
//! subscribers paid one allocation and one free per copy. The owner hands a
//! sent datagram back with [`crate::recycle_datagram`] and the next packet
//! encrypted on the same thread reuses it. Without recycling, behaviour is
//! upstream's: a new buffer per packet.

use std::cell::RefCell;

use crate::io::DatagramSend;

/// Spare buffers kept per thread: enough for a burst written to a large
/// room, small enough to bound the memory they hold (about 1.3 MB).
const MAX_SPARE: usize = 1024;

/// Buffers smaller than this are not worth keeping (RTCP, tiny audio).
const MIN_CAPACITY: usize = 1200;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A zeroed buffer of `len` bytes, a spare one if this thread has one.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let mut buf = SPARE
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(len.max(MIN_CAPACITY)));
    buf.clear();
    buf.resize(len, 0);
    buf
}

/// Keep a sent datagram's buffer for the next packet encrypted on this thread.
pub(crate) fn give_back(datagram: DatagramSend) {
    let buf: Vec<u8> = datagram.into();
    if buf.capacity() < MIN_CAPACITY {
        return;
    }
    SPARE.with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < MAX_SPARE {
            spare.push(buf);
        }
    });
}
