//! Helpers for the webrtc-rs interop tests: a signaling client, a webrtc-rs
//! peer with its events as channels, and synthetic VP8 and Opus payloads that
//! carry a marker the receiver can check.
//!
//! Every wait here has a timeout, so a stalled step fails with its name
//! instead of hanging the test.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use futures_util::{SinkExt, StreamExt};
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry,
};

/// How long any single step (a signaling reply, ICE gathering, connecting) may take.
pub const STEP: Duration = Duration::from_secs(10);

/// Payload types of webrtc-rs's default codecs.
pub const VP8_PT: u8 = 96;
pub const OPUS_PT: u8 = 111;

/// Bytes every synthetic payload carries, followed by a big-endian u32
/// counter (the frame number for video) and, for video, the packet's index
/// within its frame.
pub const MARKER: &[u8; 4] = b"RLAY";

/// Log to stderr when `RUST_LOG` is set (server and webrtc-rs alike).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| anyhow!("timed out after {STEP:?}: {what}"))
}

// ---------------------------------------------------------------------------
// Signaling

/// A client of the signaling WebSocket.
pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages passed over by [`Signal::recv_type`], oldest first.
    skipped: VecDeque<Value>,
}

impl Signal {
    pub async fn connect(url: &str) -> anyhow::Result<Signal> {
        let (ws, _) = within("WebSocket connect", tokio_tungstenite::connect_async(url))
            .await?
            .context("WebSocket connect")?;
        Ok(Signal {
            ws,
            skipped: VecDeque::new(),
        })
    }

    pub async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.ws.send(Message::text(message.to_string())).await?;
        Ok(())
    }

    /// The next JSON message off the socket; `None` when it closed.
    async fn read(&mut self) -> Option<anyhow::Result<Value>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).context("server sent bad JSON"))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// The next message of type `ty`. Messages passed over are kept for
    /// later calls; an `error` fails.
    pub async fn recv_type(&mut self, ty: &str) -> anyhow::Result<Value> {
        self.recv_where(ty, |m| m["type"] == ty).await
    }

    /// The reply to the request tagged `req`.
    pub async fn reply(&mut self, req: &str) -> anyhow::Result<Value> {
        let what = format!("the reply to request {req}");
        let message = self.recv_where(&what, |m| m["req"] == req).await?;
        ensure!(message["type"] != "error", "{what} is an error: {message}");
        Ok(message)
    }

    /// The next message for which `wanted` holds, first among those passed
    /// over before. Others are kept; an `error` not for this fails.
    pub async fn recv_where(
        &mut self,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        if let Some(at) = self.skipped.iter().position(&wanted) {
            return Ok(self.skipped.remove(at).expect("position is in range"));
        }
        within(&format!("waiting for {what}"), async {
            loop {
                let message = self
                    .read()
                    .await
                    .ok_or_else(|| anyhow!("socket closed while waiting for {what}"))??;
                if wanted(&message) {
                    return Ok(message);
                }
                if message["type"] == "error" {
                    bail!("server error while waiting for {what}: {message}");
                }
                self.skipped.push_back(message);
            }
        })
        .await?
    }

    pub async fn join(&mut self, room: &str, name: &str) -> anyhow::Result<Value> {
        self.send(json!({"type": "join", "room": room, "name": name}))
            .await?;
        self.recv_type("joined").await
    }
}

// ---------------------------------------------------------------------------
// webrtc-rs peers

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
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs()?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?
            .with(Slot::from(14_000), KeyframeRequestsToApp::default());
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

// ---------------------------------------------------------------------------
// Synthetic media

/// The RTP payloads of one VP8 frame (RFC 7741) of simulcast layer `layer`
/// (0 without simulcast): a payload descriptor with a 15-bit picture id, the
/// VP8 payload header on the first packet (with the keyframe start code and
/// the layer's size on keyframes), then [`MARKER`], the frame number, the
/// packet index and the layer, padded to a plausible size.
pub fn vp8_frame(frame: u32, picture_id: u16, keyframe: bool, layer: u8) -> Vec<Vec<u8>> {
    let (packets, size) = if keyframe { (3, 1100) } else { (1, 500) };
    let (width, height) = (320u16 << layer, 180u16 << layer);
    (0..packets)
        .map(|index| {
            let start = index == 0;
            // X=1, S on the first packet, PID=0; I=1; M=1 and the 15-bit picture id.
            let mut p = vec![
                if start { 0x90 } else { 0x80 },
                0x80,
                0x80 | ((picture_id >> 8) as u8 & 0x7f),
                picture_id as u8,
            ];
            if start {
                // Frame tag (RFC 6386 9.1): show_frame=1, P=0 on keyframes.
                p.extend([if keyframe { 0x10 } else { 0x11 }, 0x00, 0x00]);
                if keyframe {
                    p.extend([0x9d, 0x01, 0x2a]);
                    p.extend(width.to_le_bytes());
                    p.extend(height.to_le_bytes());
                }
            }
            p.extend(MARKER);
            p.extend(frame.to_be_bytes());
            p.extend([index as u8, layer]);
            p.resize(size, 0);
            p
        })
        .collect()
}

/// An Opus-sized audio payload: a TOC byte, [`MARKER`] and the packet counter.
pub fn opus_payload(counter: u32) -> Vec<u8> {
    let mut p = vec![0xfc];
    p.extend(MARKER);
    p.extend(counter.to_be_bytes());
    p.resize(80, 0);
    p
}

/// What a receiver reads back from a VP8 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Info {
    /// S=1 and PID=0: the first packet of a frame.
    pub start: bool,
    /// The first packet of a keyframe (frame tag P bit clear).
    pub keyframe: bool,
    /// What the publisher wrote after [`MARKER`], if it is there.
    pub mark: Option<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub frame: u32,
    pub index: u8,
    pub layer: u8,
}

pub fn parse_vp8(payload: &[u8]) -> Option<Vp8Info> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        len += 1;
        if ext & 0x80 != 0 {
            len += if payload.get(len)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1;
        }
        if ext & 0x30 != 0 {
            len += 1;
        }
    }
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let keyframe = start && payload.get(len)? & 0x01 == 0;
    let mark = find_marker(payload).and_then(|at| {
        let b = payload.get(at..at + 6)?;
        Some(Mark {
            frame: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            index: b[4],
            layer: b[5],
        })
    });
    Some(Vp8Info {
        start,
        keyframe,
        mark,
    })
}

/// The counter after [`MARKER`] in an audio payload.
pub fn parse_opus(payload: &[u8]) -> Option<u32> {
    let at = find_marker(payload)?;
    let b = payload.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Index just past the marker.
fn find_marker(payload: &[u8]) -> Option<usize> {
    payload
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .map(|at| at + MARKER.len())
}
