//! The room API's downlink report: for each subscriber of a room on this
//! worker, the estimate its layers are allocated from, what its receiver
//! reports and the layer of each video track. Read on request, off the
//! media path.

use std::time::Instant;

use crate::api::{DownlinkReport, MediaKind, VideoDowntrackReport};
use crate::downlink::Source;
use crate::ids::RoomId;

use super::Worker;

impl Worker {
    pub(super) fn downlink_reports(&self, room: RoomId, now: Instant) -> Vec<DownlinkReport> {
        let mut reports: Vec<DownlinkReport> = self
            .participants
            .iter()
            .filter(|(_, p)| p.room == room && p.subscribe.is_some())
            .map(|(id, p)| {
                let estimate = p.downlink.estimate(now);
                let mut video: Vec<VideoDowntrackReport> = p
                    .downtracks
                    .iter()
                    .filter(|(_, dt)| dt.kind == MediaKind::Video)
                    .map(|(track, dt)| VideoDowntrackReport {
                        track: *track,
                        target: dt.forwarder.target(),
                        current: dt.forwarder.current(),
                    })
                    .collect();
                video.sort_by_key(|v| v.track);
                DownlinkReport {
                    participant: *id,
                    estimate_bps: estimate.map(|(bps, _)| bps),
                    estimate_source: estimate.map(|(_, source)| match source {
                        Source::Twcc => "twcc",
                        Source::Remb => "remb",
                    }),
                    rtt: p.downlink.rtt,
                    loss: p.downlink.loss,
                    congested: p.downlink.congested(),
                    video,
                }
            })
            .collect();
        reports.sort_by_key(|r| r.participant);
        reports
    }
}
