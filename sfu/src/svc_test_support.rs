//! What the forwarder's SVC unit tests share (`svc_forwarding_tests`, VP9;
//! `dd_forwarding_tests`, AV1 with dependency descriptors): the layer
//! pattern of their `L3T3_KEY` publishers and how they read what passed.

use crate::forwarder::{Forwarder, Incoming, Rewrite};

/// TIDs of L3T3's pictures, 0,2,1,2 and again.
pub const TIDS: [u8; 4] = [0, 2, 1, 2];
/// Packets of each spatial layer's frame.
pub const PACKETS: [usize; 3] = [1, 2, 3];

/// The packets `f` forwards, each with its rewrite.
pub fn forward(f: &mut Forwarder, packets: &[Incoming]) -> Vec<(Incoming, Rewrite)> {
    packets
        .iter()
        .filter_map(|p| f.forward(p).map(|r| (*p, r)))
        .collect()
}

/// (spatial, temporal) of each layer frame forwarded, in order.
pub fn frames(out: &[(Incoming, Rewrite)]) -> Vec<(u8, u8)> {
    out.iter()
        .filter(|(p, _)| p.starts_frame)
        .map(|(p, _)| (p.spatial.unwrap().sid, p.temporal.unwrap().tid))
        .collect()
}
