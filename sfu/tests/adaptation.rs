//! Downlink adaptation on a simulated network.

mod support;

use std::time::Duration;

use relais_sfu::api::*;
use support::*;

#[test]
fn probe_estimate() {
    let mut w = World::new();
    let publisher = w.join(true);
    let sub = w.join(true);
    w.clients[publisher].layer_packets = CAMERA_LAYER_PACKETS;
    let video = track_of(&w.publish(publisher).unwrap(), MediaKind::Video);
    let sub_addr = w.client(sub).sub_addr;
    let id = w.client(sub).id;
    let down = LinkConfig { delay: Duration::from_millis(25), rate_bps: Some(3_000_000), ..Default::default() };
    let up = LinkConfig { delay: Duration::from_millis(25), ..Default::default() };
    w.set_link(sub_addr, down, up);
    for s in 0..40 {
        if s == 15 { w.set_downlink_rate(sub_addr, Some(300_000)); }
        if s == 25 { w.set_downlink_rate(sub_addr, Some(3_000_000)); }
        let before = w.received_on(sub, video.id).len();
        w.run(Duration::from_millis(500));
        let rx = w.received_on(sub, video.id);
        let layer = rx.last().map(|r| r.layer);
        let l = &w.downlinks[&sub_addr].stats;
        eprintln!("t={:.1} est={:?} layer={:?} pkts={} lostq={}", (s+1) as f64 * 0.5, w.worker.downlink_estimate(id, w.now), layer, rx.len()-before, l.lost_queue);
    }
}
