//! One str0m peer connection and the address it sends from (an
//! [`Endpoint`] of the bots' event loop): feeding datagrams and timeouts
//! in, draining its output (transmits out, events to the caller). The drain
//! is bounded and never blocks: a datagram the socket cannot take right now
//! is counted as dropped, as a congested link would.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::engine::Endpoint;

/// At most this many outputs per drain; str0m ends with a timeout well before.
const DRAIN_BOUND: usize = 100_000;
/// When str0m fails, look at it again after this long.
const RETRY_AFTER: Duration = Duration::from_millis(50);

pub(crate) struct Peer {
    pub rtc: Option<Rtc>,
    pub endpoint: Endpoint,
    local: SocketAddr,
    /// Datagrams the socket refused.
    pub send_drops: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Errors str0m returned while driven.
    pub errors: u64,
}

impl Peer {
    /// An address for a connection bound to `ip` (loopback: an address of
    /// its own on the shared socket); the connection comes later.
    pub fn bind(ip: IpAddr) -> io::Result<Peer> {
        let endpoint = Endpoint::new(ip)?;
        let local = endpoint.local;
        Ok(Peer {
            rtc: None,
            endpoint,
            local,
            send_drops: 0,
            sent: 0,
            errors: 0,
        })
    }

    /// A new RTP-mode connection with this socket's host candidate.
    pub fn new_rtc(&self, now: Instant) -> Rtc {
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        match Candidate::host(self.local, "udp") {
            Ok(c) => {
                rtc.add_local_candidate(c);
            }
            Err(e) => tracing::warn!(error = %e, "no host candidate for {}", self.local),
        }
        rtc
    }

    /// Feed a datagram that arrived on this peer's socket.
    pub fn receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Some(rtc) = self.rtc.as_mut() else {
            return;
        };
        let Ok(r) = Receive::new(Protocol::Udp, from, self.local, data) else {
            return;
        };
        let input = Input::Receive(now, r);
        if rtc.accepts(&input) && rtc.handle_input(input).is_err() {
            self.errors += 1;
        }
    }

    /// Let time pass.
    pub fn timeout(&mut self, now: Instant) {
        if let Some(rtc) = self.rtc.as_mut() {
            if rtc.handle_input(Input::Timeout(now)).is_err() {
                self.errors += 1;
            }
        }
    }

    /// Drain the connection's output until its next timeout, which is returned.
    pub fn poll(&mut self, mut on_event: impl FnMut(&mut Rtc, Event)) -> Option<Instant> {
        let rtc = self.rtc.as_mut()?;
        for _ in 0..DRAIN_BOUND {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => {
                    if self.endpoint.send(t.destination, &t.contents) {
                        self.sent += 1;
                    } else {
                        self.send_drops += 1;
                    }
                }
                Ok(Output::Event(e)) => on_event(rtc, e),
                Err(e) => {
                    self.errors += 1;
                    tracing::debug!(error = %e, "str0m poll_output failed");
                    return Some(Instant::now() + RETRY_AFTER);
                }
            }
        }
        Some(Instant::now())
    }
}
