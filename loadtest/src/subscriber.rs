//! The subscribe connection of a bot: answers the server's offers, keeps the
//! map of media lines to tracks, and records every received packet in the
//! track's [`TrackReceipt`].

use std::collections::HashMap;
use std::time::Instant;

use relais_signaling::protocol::MidTrack;
use str0m::change::SdpOffer;
use str0m::media::{KeyframeRequestKind, Mid};
use str0m::{Event, IceConnectionState};

use crate::error::{BotError, Result};
use crate::peer::Peer;
use crate::receipt::{record_now, TrackReceipt};

pub(crate) struct Subscriber {
    pub peer: Peer,
    /// Media line of the subscribe connection → the track it carries.
    lines: HashMap<Mid, String>,
    pub receipts: HashMap<String, TrackReceipt>,
    pub connected: bool,
    pub ice_disconnected: bool,
    log_capacity: usize,
}

impl Subscriber {
    /// Receipts keep the latest `log_capacity` packets of each track.
    pub fn new(peer: Peer, log_capacity: usize) -> Subscriber {
        Subscriber {
            log_capacity,
            peer,
            lines: HashMap::new(),
            receipts: HashMap::new(),
            connected: false,
            ice_disconnected: false,
        }
    }

    /// Answer an offer from the server; returns the answer's SDP.
    pub fn accept_offer(&mut self, sdp: &str, tracks: &[MidTrack], now: Instant) -> Result<String> {
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| BotError::Rtc(format!("offer: {e}")))?;
        if self.peer.rtc.is_none() {
            self.peer.rtc = Some(self.peer.new_rtc(now));
        }
        let rtc = self.peer.rtc.as_mut().expect("just made");
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| BotError::Rtc(format!("offer: {e}")))?;
        self.lines = tracks
            .iter()
            .map(|t| (Mid::from(t.mid.as_str()), t.track_id.clone()))
            .collect();
        let capacity = self.log_capacity;
        for t in tracks {
            self.receipts
                .entry(t.track_id.clone())
                .or_insert_with(|| TrackReceipt::with_log_capacity(t.track_id.clone(), capacity));
        }
        Ok(answer.to_sdp_string())
    }

    /// The tracks offered now, by media line.
    pub fn lines(&self) -> &HashMap<Mid, String> {
        &self.lines
    }

    /// Send a PLI for the stream received on `track_id`.
    pub fn request_keyframe(&mut self, track_id: &str) -> Result<()> {
        let mid = self
            .lines
            .iter()
            .find(|(_, t)| *t == track_id)
            .map(|(m, _)| *m)
            .ok_or_else(|| {
                BotError::Usage(format!("track {track_id} is not offered to this bot"))
            })?;
        let rtc = self
            .peer
            .rtc
            .as_mut()
            .ok_or_else(|| BotError::Usage("no subscribe connection yet".into()))?;
        let mut api = rtc.direct_api();
        let stream = api
            .stream_rx_by_mid(mid, None)
            .ok_or_else(|| BotError::Usage(format!("nothing received yet on track {track_id}")))?;
        stream.request_keyframe(KeyframeRequestKind::Pli);
        self.poll();
        Ok(())
    }

    /// Drain the connection; returns its next timeout.
    pub fn poll(&mut self) -> Option<Instant> {
        let Subscriber {
            peer,
            lines,
            receipts,
            connected,
            ice_disconnected,
            log_capacity,
        } = self;
        peer.poll(|rtc, e| match e {
            Event::RtpPacket(p) => {
                let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                let record = record_now(
                    *p.seq_no,
                    p.header.timestamp,
                    p.header.marker,
                    *p.header.ssrc,
                    &p.payload,
                );
                let track = mid.and_then(|m| lines.get(&m));
                match track.and_then(|t| receipts.get_mut(t)) {
                    Some(r) => r.record(record),
                    None => {
                        let key = format!("mid:{}", mid.map(|m| m.to_string()).unwrap_or_default());
                        receipts
                            .entry(key.clone())
                            .or_insert_with(|| TrackReceipt::with_log_capacity(key, *log_capacity))
                            .record(record)
                    }
                }
            }
            Event::Connected => *connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                *ice_disconnected = true
            }
            _ => {}
        })
    }
}
