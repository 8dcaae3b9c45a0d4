//! The participants of a test: a publisher of webrtc-rs local tracks, a
//! subscriber that reads every remote track, and a counter of the PLIs that
//! reach a publisher.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::peer::{media_lines, Peer};
use super::signal::Signal;
use super::within;

/// A participant publishing webrtc-rs local tracks.
pub struct Publisher {
    pub signal: Signal,
    pub peer: Peer,
    /// The publish offer that was sent.
    pub offer: String,
    /// The server's track ids, in the order of the tracks given.
    pub track_ids: Vec<String>,
}

impl Publisher {
    /// Join with `join` (a `join` message), publish `tracks` and connect.
    pub async fn start(
        url: &str,
        join: Value,
        tracks: Vec<Arc<TrackLocalStaticRTP>>,
    ) -> anyhow::Result<Publisher> {
        let mut signal = Signal::connect(url).await?;
        signal.join(join).await?;
        let mut peer = Peer::new().await?;
        for track in tracks {
            peer.pc
                .add_transceiver_from_track(
                    track as Arc<dyn TrackLocal>,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        ..Default::default()
                    }),
                )
                .await?;
        }
        let offer = peer.offer().await?;
        let sources: Vec<_> = media_lines(&offer)
            .into_iter()
            .map(|(kind, mid)| {
                let source = if kind == "video" {
                    "camera"
                } else {
                    "microphone"
                };
                json!({"mid": mid, "source": source})
            })
            .collect();
        signal
            .send(json!({"type": "publish_offer", "sdp": offer, "sources": sources}))
            .await?;
        let answer = signal.recv_type("publish_answer").await?;
        let track_ids = answer["tracks"]
            .as_array()
            .context("publish_answer without tracks")?
            .iter()
            .filter_map(|t| t["track_id"].as_str().map(String::from))
            .collect();
        peer.accept_answer(answer["sdp"].as_str().context("no sdp")?)
            .await?;
        peer.connected().await.context("publisher")?;
        Ok(Publisher {
            signal,
            peer,
            offer,
            track_ids,
        })
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.signal.send(json!({"type": "leave"})).await?;
        self.peer.pc.close().await?;
        Ok(())
    }
}

/// A participant that only receives; what its tracks receive lands in
/// [`Subscriber::received`].
pub struct Subscriber {
    pub name: String,
    pub signal: Signal,
    pub peer: Peer,
    /// The track ids of the server's latest offer.
    pub offered: Vec<String>,
    pub received: Received,
    packets_tx: mpsc::UnboundedSender<(String, RtpCodecKind, rtp::Packet)>,
    packets: mpsc::UnboundedReceiver<(String, RtpCodecKind, rtp::Packet)>,
    readers: Vec<JoinHandle<()>>,
    next_req: u32,
}

impl Subscriber {
    /// Join with `join` (a `join` message), ask for the given
    /// `(track_id, quality)`s, then answer the server's offer and wait for
    /// its tracks.
    pub async fn join(
        url: &str,
        join: Value,
        qualities: &[(&str, &str)],
    ) -> anyhow::Result<Subscriber> {
        Subscriber::join_with(url, join, qualities, Peer::new().await?).await
    }

    /// [`Subscriber::join`] with a peer of one's own.
    pub async fn join_with(
        url: &str,
        join: Value,
        qualities: &[(&str, &str)],
        peer: Peer,
    ) -> anyhow::Result<Subscriber> {
        let name = join["name"].as_str().unwrap_or("subscriber").to_owned();
        let mut signal = Signal::connect(url).await?;
        signal.join(join).await?;
        let (packets_tx, packets) = mpsc::unbounded_channel();
        let mut subscriber = Subscriber {
            name: name.clone(),
            signal,
            peer,
            offered: Vec::new(),
            received: Received::default(),
            packets_tx,
            packets,
            readers: Vec::new(),
            next_req: 0,
        };
        for (track_id, quality) in qualities {
            subscriber
                .request(json!({"type": "subscribe", "track_id": track_id, "quality": quality}))
                .await?;
        }
        subscriber.answer_offer().await?;
        subscriber
            .peer
            .connected()
            .await
            .with_context(|| format!("subscriber {name}"))?;
        subscriber.open_tracks(subscriber.offered.len()).await?;
        Ok(subscriber)
    }

    /// Answer the server's next `subscribe_offer`.
    pub async fn answer_offer(&mut self) -> anyhow::Result<()> {
        let offer = self.signal.recv_type("subscribe_offer").await?;
        self.offered = offer["tracks"]
            .as_array()
            .context("subscribe_offer without tracks")?
            .iter()
            .filter_map(|t| t["track_id"].as_str().map(String::from))
            .collect();
        let answer = self
            .peer
            .answer(offer["sdp"].as_str().context("no sdp")?)
            .await
            .with_context(|| format!("{} answering {offer}", self.name))?;
        self.request(json!({"type": "subscribe_answer", "sdp": answer}))
            .await?;
        Ok(())
    }

    /// Answer the server's offers until they carry every track of `ids`,
    /// then wait for the tracks not opened yet. (The server may announce a
    /// room's tracks over several offers.)
    pub async fn await_tracks(&mut self, ids: &[String]) -> anyhow::Result<()> {
        while !ids.iter().all(|id| self.offered.contains(id)) {
            self.answer_offer()
                .await
                .with_context(|| format!("offers so far carry only {:?}", self.offered))?;
        }
        let opened = self.readers.len();
        self.open_tracks(self.offered.len().saturating_sub(opened))
            .await
    }

    /// Wait for `n` more remote tracks and read each into `received`.
    /// (webrtc-rs reports a track when its first RTP packet arrives.)
    pub async fn open_tracks(&mut self, n: usize) -> anyhow::Result<()> {
        for _ in 0..n {
            let track = within(
                "on_track: a remote track's first packet",
                self.peer.tracks.recv(),
            )
            .await?
            .context("subscriber closed")?;
            let tx = self.packets_tx.clone();
            self.readers.push(tokio::spawn(read_track(track, tx)));
        }
        Ok(())
    }

    /// Send a message tagged with a fresh `req` and wait for its reply.
    pub async fn request(&mut self, mut message: Value) -> anyhow::Result<Value> {
        self.next_req += 1;
        let req = format!("r{}", self.next_req);
        message["req"] = json!(req);
        self.signal.send(message).await?;
        self.signal.reply(&req).await
    }

    /// Add arriving RTP to `received` until `enough` holds of it, for at
    /// most 8 s.
    pub async fn collect(&mut self, enough: impl Fn(&Received) -> bool) {
        let received = &mut self.received;
        let packets = &mut self.packets;
        let collecting = async {
            while !enough(received) {
                match packets.recv().await {
                    Some((id, kind, p)) => received.push(id, kind, p),
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(8), collecting).await;
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.readers.iter().for_each(|r| r.abort());
        self.signal.send(json!({"type": "leave"})).await?;
        self.peer.pc.close().await?;
        Ok(())
    }
}

/// The RTP packets a subscriber received, per remote track in the order the
/// tracks first had a packet.
#[derive(Default)]
pub struct Received {
    pub tracks: Vec<(String, RtpCodecKind, Vec<rtp::Packet>)>,
}

impl Received {
    pub fn push(&mut self, id: String, kind: RtpCodecKind, packet: rtp::Packet) {
        match self.tracks.iter_mut().find(|(t, _, _)| *t == id) {
            Some((_, _, packets)) => packets.push(packet),
            None => self.tracks.push((id, kind, vec![packet])),
        }
    }

    /// The packets of each track of `kind`.
    pub fn of(&self, kind: RtpCodecKind) -> Vec<&[rtp::Packet]> {
        self.tracks
            .iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(_, _, p)| p.as_slice())
            .collect()
    }

    /// Packets of `kind` in all.
    pub fn count(&self, kind: RtpCodecKind) -> usize {
        self.of(kind).iter().map(|p| p.len()).sum()
    }

    /// The packets of the one track of `kind`.
    pub fn only(&self, kind: RtpCodecKind) -> anyhow::Result<&[rtp::Packet]> {
        match self.of(kind)[..] {
            [one] => Ok(one),
            ref all => bail!("{} tracks of kind {kind}, wanted one", all.len()),
        }
    }
}

async fn read_track(
    track: Arc<dyn TrackRemote>,
    out: mpsc::UnboundedSender<(String, RtpCodecKind, rtp::Packet)>,
) {
    let (id, kind) = (track.track_id().await, track.kind().await);
    while let Some(event) = track.poll().await {
        if let TrackRemoteEvent::OnRtpPacket(packet) = event {
            if out.send((id.clone(), kind, packet)).is_err() {
                return;
            }
        }
    }
}

/// PLIs that reached the publisher, per SSRC it sends; each one also asks
/// the sending loop for a keyframe of that SSRC.
pub struct PliCounter {
    ssrcs: Vec<u32>,
    counts: Vec<AtomicUsize>,
    /// Bit `i`: a keyframe is wanted on `ssrcs[i]`.
    wanted: AtomicU8,
}

impl PliCounter {
    pub fn new(ssrcs: &[u32]) -> PliCounter {
        PliCounter {
            ssrcs: ssrcs.to_vec(),
            counts: ssrcs.iter().map(|_| AtomicUsize::new(0)).collect(),
            wanted: AtomicU8::new(0),
        }
    }

    pub fn count(&self, index: usize) -> usize {
        self.counts[index].load(Ordering::Relaxed)
    }

    /// Whether a keyframe was asked for on `ssrcs[index]` since the last call.
    pub fn take_wanted(&self, index: usize) -> bool {
        self.wanted.fetch_and(!(1 << index), Ordering::Relaxed) & (1 << index) != 0
    }

    pub async fn watch(self: Arc<Self>, track: Arc<TrackLocalStaticRTP>) {
        while let Some(event) = track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                continue;
            };
            for p in packets {
                let Some(pli) = p.as_any().downcast_ref::<PictureLossIndication>() else {
                    continue;
                };
                if let Some(i) = self.ssrcs.iter().position(|s| *s == pli.media_ssrc) {
                    self.counts[i].fetch_add(1, Ordering::Relaxed);
                    self.wanted.fetch_or(1 << i, Ordering::Relaxed);
                }
            }
        }
    }
}
