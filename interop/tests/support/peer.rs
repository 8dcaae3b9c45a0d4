//! A webrtc-rs peer connection for tests, and the local tracks it sends.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry,
};

use super::media::VP8_PT;
use super::within;

/// Forwards the peer connection's events into channels.
struct Handler {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// A webrtc-rs peer connection on 127.0.0.1 with the default codecs and
/// interceptors (NACK, RTCP reports).
pub struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    state: watch::Receiver<RTCPeerConnectionState>,
    /// Remote tracks, as `on_track` reports them.
    pub tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
}

impl Peer {
    pub async fn new() -> anyhow::Result<Peer> {
        Peer::build(None).await
    }

    /// A peer that loses the first copy of every `every`th incoming VP8
    /// packet (by sequence number) before webrtc-rs sees it, so that its
    /// NACK generator asks for it again; retransmissions pass. The list
    /// gets the sequence numbers lost.
    pub async fn lossy(every: u16) -> anyhow::Result<(Peer, Arc<Mutex<Vec<u16>>>)> {
        let lost = Arc::new(Mutex::new(Vec::new()));
        let loss = Loss {
            every,
            lost: Arc::clone(&lost),
            ..Loss::default()
        };
        Ok((Peer::build(Some(loss)).await?, lost))
    }

    async fn build(loss: Option<Loss>) -> anyhow::Result<Peer> {
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs()?;
        let mut registry = register_default_interceptors(Registry::new(), &mut media_engine)?
            .with(Slot::from(14_000), KeyframeRequestsToApp::default());
        if let Some(loss) = loss {
            // Wire-most: before the NACK generator and everything else.
            registry = registry.with(Slot::from(500), loss);
        }
        let (gathered_tx, gathered) = watch::channel(false);
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (tracks_tx, tracks) = mpsc::unbounded_channel();
        let handler = Arc::new(Handler {
            gathered: gathered_tx,
            state: state_tx,
            tracks: tracks_tx,
        });
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build()
            .await?;
        Ok(Peer {
            pc: Arc::new(pc),
            gathered,
            state,
            tracks,
        })
    }

    /// Create an offer and return it with every candidate in it (no trickle).
    pub async fn offer(&mut self) -> anyhow::Result<String> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        self.complete_local_sdp().await
    }

    pub async fn accept_answer(&self, sdp: &str) -> anyhow::Result<()> {
        let answer = RTCSessionDescription::answer(sdp.to_owned())?;
        self.pc.set_remote_description(answer).await?;
        Ok(())
    }

    /// Answer an offer; the answer carries every candidate (no trickle).
    pub async fn answer(&mut self, offer_sdp: &str) -> anyhow::Result<String> {
        let offer = RTCSessionDescription::offer(offer_sdp.to_owned())?;
        self.pc.set_remote_description(offer).await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        self.complete_local_sdp().await
    }

    async fn complete_local_sdp(&mut self) -> anyhow::Result<String> {
        within("ICE gathering", self.gathered.wait_for(|done| *done))
            .await?
            .context("peer dropped")?;
        let sdp = self
            .pc
            .local_description()
            .await
            .context("no local description")?
            .sdp;
        Ok(sdp)
    }

    pub async fn connected(&mut self) -> anyhow::Result<()> {
        let state = within(
            "peer connection to connect",
            self.state.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await?
        .context("peer dropped")?;
        match *state {
            RTCPeerConnectionState::Connected => Ok(()),
            other => bail!("peer connection ended up {other}"),
        }
    }
}

/// Lets inbound keyframe requests (PLI, FIR) through to the application.
///
/// In webrtc-rs 0.21 inbound RTCP ends at the end of the interceptor chain
/// unless an interceptor marks it `DeliverToApplication`; without this,
/// `TrackLocal::poll` never yields the server's PLIs. Copied in spirit from
/// its `examples/rtcp-processing`.
#[derive(Default)]
struct KeyframeRequestsToApp {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestsToApp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<_> = packets
                .iter()
                .filter(|p| {
                    p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestsToApp {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// Drops the first copy of inbound VP8 packets whose sequence number is
/// `3 mod every`, as a lossy network would; but not among the first ten,
/// since a receiver cannot ask for what came before its first packet.
#[derive(Default)]
struct Loss {
    every: u16,
    seen: usize,
    lost: Arc<Mutex<Vec<u16>>>,
    dropped: HashSet<(u32, u16)>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for Loss {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(p) = &msg.message.packet {
            let h = &p.header;
            self.seen += usize::from(h.payload_type == VP8_PT);
            if h.payload_type == VP8_PT
                && self.seen > 10
                && h.sequence_number % self.every == 3
                && self.dropped.insert((h.ssrc, h.sequence_number))
            {
                self.lost.lock().unwrap().push(h.sequence_number);
                return Ok(());
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for Loss {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// A local track that sends the RTP it is given, on one SSRC.
pub fn rtp_track(kind: RtpCodecKind, ssrc: u32, name: &str) -> Arc<TrackLocalStaticRTP> {
    local_track(kind, name, &[("", ssrc)])
}

/// A VP8 track sending one encoding per `(rid, ssrc)`: simulcast.
pub fn simulcast_track(name: &str, layers: &[(&str, u32)]) -> Arc<TrackLocalStaticRTP> {
    local_track(RtpCodecKind::Video, name, layers)
}

fn local_track(kind: RtpCodecKind, name: &str, layers: &[(&str, u32)]) -> Arc<TrackLocalStaticRTP> {
    let codec = match kind {
        RtpCodecKind::Audio => RTCRtpCodec {
            mime_type: "audio/opus".into(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
            rtcp_feedback: vec![],
        },
        _ => RTCRtpCodec {
            mime_type: "video/VP8".into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
    };
    let encodings = layers
        .iter()
        .map(|(rid, ssrc)| RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                rid: (*rid).into(),
                ssrc: Some(*ssrc),
                ..Default::default()
            },
            codec: codec.clone(),
            ..Default::default()
        })
        .collect();
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "relais-interop".into(),
        name.into(),
        name.into(),
        kind,
        encodings,
    )))
}

/// `(kind, mid)` of each media line of an SDP, in order.
pub fn media_lines(sdp: &str) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut kind = None;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            kind = m.split(' ').next().map(String::from);
        } else if let (Some(mid), Some(k)) = (line.strip_prefix("a=mid:"), &kind) {
            lines.push((k.clone(), mid.trim().to_owned()));
        }
    }
    lines
}

/// The id an SDP gives to the header extension `uri` (`a=extmap:ID URI`).
pub fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let rest = line.strip_prefix("a=extmap:")?;
        let (id, rest) = rest.split_once(' ')?;
        (rest.split(' ').next()? == uri).then(|| id.split('/').next()?.parse().ok())?
    })
}
