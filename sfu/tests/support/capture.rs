//! For benchmarks: a publisher's datagrams captured instead of delivered, so
//! that a benchmark can time the worker handling exactly those.

use std::net::SocketAddr;
use std::time::Duration;

use str0m::Input;

use super::{Side, World};

impl World {
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
