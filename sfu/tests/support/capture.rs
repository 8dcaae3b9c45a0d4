//! For benchmarks: a publisher's datagrams captured instead of delivered, so
//! that a benchmark can time the worker handling exactly those.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use str0m::Input;

use super::{Side, World};

impl World {
    /// A publisher and `subscribers` receivers, connected and forwarding
    /// after `warm_up` of virtual time, with or without downlink estimation
    /// for the subscribers. Returns the world and the publisher's client.
    pub fn webinar(subscribers: usize, subscriber_bwe: bool, warm_up: Duration) -> (World, usize) {
        let mut w = World::new();
        w.worker.set_subscriber_bwe(subscriber_bwe);
        let publisher = w.join(true);
        // Everyone joins before the publisher publishes (the test world
        // answers offers only for clients it already knows).
        for _ in 0..subscribers {
            w.join(false);
        }
        w.publish(publisher).expect("publish accepted");
        w.run(warm_up);
        let forwarded = w.metrics.rtp_packets_forwarded.load(Relaxed);
        assert!(
            forwarded > subscribers as u64 * 50,
            "media flows to every subscriber before measuring ({forwarded} forwarded)"
        );
        (w, publisher)
    }

    /// What the worker benches measure: captured datagrams into the worker,
    /// the written peers drained, the timers that are due run and drained
    /// again, as two turns of the worker thread's loop do (str0m releases
    /// written media on a timeout, which either the drain or the timers give
    /// it). Returns how many datagrams then wait in the outbox.
    ///
    /// With `drain_each`, the written peers are drained after every datagram
    /// instead of once after all of them: what the worker thread does when
    /// a paced publisher's packets arrive one at a time (a browser's pacer
    /// spreads a frame's packets over a few milliseconds).
    pub fn forward_captured(
        &mut self,
        datagrams: &[(SocketAddr, Vec<u8>)],
        drain_each: bool,
    ) -> usize {
        let now = self.now;
        for (from, data) in datagrams {
            self.worker.handle_datagram(now, *from, data);
            if drain_each {
                self.worker.outbox();
            }
        }
        let drained = self.worker.outbox().len();
        self.worker.handle_timeout(now);
        self.worker.outbox().len().max(drained)
    }

    /// Advance the clock by `d` in 5 ms steps while client `c` publishes
    /// (and nothing else runs); return the datagrams it sent to its worker.
    pub fn capture_publisher(&mut self, c: usize, d: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(5);
            let now = self.now;
            let client = &mut self.clients[c];
            if let Some(rtc) = client.publish.as_mut() {
                rtc.handle_input(Input::Timeout(now))
                    .expect("publisher advances");
                client.drain(Side::Publish, now, &mut self.to_worker);
            }
            self.send_media(c);
        }
        let from = self.clients[c].addr;
        let mut captured = Vec::new();
        self.to_worker.retain(|(src, _, data)| {
            if *src == from {
                captured.push((*src, data.clone()));
                false
            } else {
                true
            }
        });
        captured
    }
}
