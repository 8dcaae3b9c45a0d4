// RelaisClient: joins a room of a Relais server and keeps its two peer
// connections (publish: the client offers; subscribe: the server offers).
// It holds the room's participants and tracks and reports every change as
// a DOM event, so any interface can be built on it. It never touches the DOM
// beyond creating no elements at all: the interface decides what to show.
//
// Events (CustomEvent, data in `detail`):
//   state        {state: connecting|connected|reconnecting|closed, reason?, error?}
//   joined       {room, mode, participantId, role, development}
//   participant  {participant}                 (joined or changed)
//   participantleft {participantId, reason}
//   track        {track}  a remote track has media (track.mediaStreamTrack)
//   trackended   {trackId}
//   trackmuted   {trackId, muted}
//   layer        {trackId, layer}
//   lastn        {paused}   remote video track ids last-N holds back (a Set)
//   publisherlayers {trackId, layers}   dynacast applied to an own track
//   chat         {participantId, name, text, timestampMs}
//   hand         {participantId, raised}
//   role         {participantId, role}
//   speaker      {participantId}
//   mutedbyhost  {}
//   localtrack   {source, trackId, mediaStreamTrack}   (published or ended)
//   servererror  {code, message}

import { Signaling, SignalingError } from './signaling.js';
import { PublisherLayers } from './dynacast.js';
import { cameraEncodings, cameraScalabilityMode, SVC_CODECS, VP9_SVC_ENCODINGS } from './scalability.js';

export { SignalingError };

/** Simulcast layers of a camera: rids q, h, f at 1/4, 1/2 and full size
 *  (each with three temporal layers where the browser can: scalability.js). */
export const CAMERA_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_700_000 },
];

const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];

function emit(target, type, detail = {}) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}

/** Ask the sender for Opus DTX: the answer's fmtp is what the browser obeys. */
function withOpusDtx(sdp) {
  const opus = /a=rtpmap:(\d+) opus\/48000/i.exec(sdp);
  if (!opus) return sdp;
  const pt = opus[1];
  return sdp.replace(new RegExp(`a=fmtp:${pt} ([^\\r\\n]*)`, 'g'), (line, params) =>
    params.includes('usedtx') ? line : `a=fmtp:${pt} ${params};usedtx=1`);
}

/** Put `codec` (e.g. 'VP8', 'H264') first in a video transceiver's preferences;
 *  with `only`, offer no other video codec (the server answers in its own
 *  order of preference, VP8 first: VP9 SVC must be the only choice). */
function preferCodec(transceiver, codec, { only = false } = {}) {
  if (!transceiver.setCodecPreferences || !globalThis.RTCRtpReceiver?.getCapabilities) return;
  const caps = RTCRtpReceiver.getCapabilities('video');
  if (!caps) return;
  const want = `video/${codec}`.toLowerCase();
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (first.length === 0) return;
  const repair = ['video/rtx', 'video/red', 'video/ulpfec', 'video/flexfec-03'];
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== want
    && (!only || repair.includes(c.mimeType.toLowerCase())));
  try {
    transceiver.setCodecPreferences([...first, ...rest]);
  } catch {
    /* the browser keeps its default order */
  }
}

export class RelaisClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.url      WebSocket URL, e.g. ws://host/ws
   * @param {string} options.room
   * @param {string} [options.name]   display name (development mode)
   * @param {string} [options.token]  access token (servers with a secret)
   * @param {string} [options.role]   development mode only
   * @param {string} [options.mode]   development mode only: meeting|webinar
   * @param {number} [options.lastN]  development mode only: last-N of a room this join makes
   * @param {string} [options.videoCodec] 'VP8' (default), 'H264', 'VP9' or 'AV1'
   *   (with the last two the camera goes out as SVC, L3T3_KEY, instead of simulcast)
   */
  constructor(options) {
    super();
    this.options = { videoCodec: 'VP8', ...options };
    this.participants = new Map();
    this.tracks = new Map();
    this.local = []; // {source, mediaStreamTrack, transceiver, trackId, muted}
    this.me = null;
    this.state = 'idle';
    this.sig = null;
    this.pubPc = null;
    this.subPc = null;
    this.midToTrack = new Map();
    this.lastNPaused = new Set(); // remote video track ids last-N holds back
    this.pinned = new Set(); // remote video track ids pinned
    this.publisherLayers = new PublisherLayers(); // dynacast wishes for own tracks
    this.pubQueue = Promise.resolve();
    this.subQueue = Promise.resolve();
    this.attempt = 0;
    this.leaving = false;
    this.reconnectTimer = null;
  }

  setState(state, extra = {}) {
    this.state = state;
    emit(this, 'state', { state, ...extra });
  }

  /** Connect and join. Rejects with a SignalingError (code, message) on failure. */
  async join() {
    this.leaving = false;
    this.setState('connecting');
    await this.connectOnce();
    this.attempt = 0;
    this.setState('connected');
  }

  async connectOnce() {
    const sig = new Signaling(this.options.url);
    this.sig = sig;
    sig.addEventListener('message', (ev) => this.onServerMessage(ev.detail));
    sig.addEventListener('close', () => this.onSignalingClosed(sig));
    await sig.open();
    const { room, name, token, role, mode, lastN } = this.options;
    const join = { type: 'join', room };
    if (name) join.name = name;
    if (token) join.token = token;
    if (role) join.role = role;
    if (mode) join.mode = mode;
    if (lastN != null) join.last_n = lastN;
    let joined;
    try {
      joined = await sig.request(join);
    } catch (e) {
      sig.close();
      throw e;
    }
    this.me = { id: joined.participant_id, role: joined.role, name: name || '' };
    this.room = { name: joined.room, mode: joined.mode, development: joined.development };
    this.createSubscribePc();
    for (const p of joined.participants) this.participants.set(p.id, { ...p });
    for (const t of joined.tracks) this.tracks.set(t.id, { ...t });
    emit(this, 'joined', {
      room: joined.room, mode: joined.mode, participantId: joined.participant_id,
      role: joined.role, development: joined.development,
    });
    for (const p of this.participants.values()) emit(this, 'participant', { participant: p });
    // Republish what was published before a reconnection.
    const previous = this.local;
    this.local = [];
    for (const l of previous) {
      if (l.mediaStreamTrack.readyState === 'live' && this.canPublish()) {
        await this.publish(l.source, l.mediaStreamTrack).catch(() => {});
        if (l.muted) await this.setMuted(l.source, true).catch(() => {});
      }
    }
  }

  canPublish() {
    return this.room?.mode !== 'webinar' || this.me?.role !== 'attendee';
  }

  onSignalingClosed(sig) {
    if (sig !== this.sig) return;
    this.teardownPeers();
    if (this.leaving || this.state === 'closed' || this.state === 'idle') return;
    if (this.state === 'connecting' && this.attempt === 0) return; // join() reports it
    if (this.state === 'reconnecting') return; // the pending attempt reschedules
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.leaving) return;
    this.clearRemote();
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState('reconnecting', { attempt: this.attempt, delayMs: delay });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(async () => {
      try {
        await this.connectOnce();
        this.attempt = 0;
        this.setState('connected', { reconnected: true });
      } catch (e) {
        if (e.code === 'unauthorized' || e.code === 'room_full' || e.code === 'room_closed') {
          this.setState('closed', { reason: e.code, error: e });
        } else {
          this.teardownPeers();
          this.scheduleReconnect();
        }
      }
    }, delay);
  }

  /** Forget the remote side (before a reconnection) and tell the interface. */
  clearRemote() {
    for (const id of [...this.tracks.keys()]) emit(this, 'trackended', { trackId: id });
    for (const id of [...this.participants.keys()]) {
      emit(this, 'participantleft', { participantId: id, reason: 'reconnecting' });
    }
    this.tracks.clear();
    this.participants.clear();
    this.midToTrack.clear();
    this.lastNPaused = new Set();
    this.pinned.clear();
    this.publisherLayers.clear();
  }

  teardownPeers() {
    for (const pc of [this.pubPc, this.subPc]) {
      if (pc) pc.close();
    }
    this.pubPc = null;
    this.subPc = null;
    this.pubQueue = Promise.resolve();
    this.subQueue = Promise.resolve();
  }

  watchPeer(pc) {
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' && (pc === this.pubPc || pc === this.subPc)) {
        // A new session is a fresh ICE negotiation on both connections.
        if (this.sig) this.sig.close();
        this.sig = null;
        this.teardownPeers();
        this.scheduleReconnect();
      }
    });
  }

  createSubscribePc() {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.subPc = pc;
    this.watchPeer(pc);
  }

  ensurePublishPc() {
    if (this.pubPc) return this.pubPc;
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pubPc = pc;
    this.watchPeer(pc);
    return pc;
  }

  onServerMessage(msg) {
    switch (msg.type) {
      case 'subscribe_offer':
        this.onSubscribeOffer(msg);
        break;
      case 'participant_joined':
        this.participants.set(msg.participant.id, { ...msg.participant });
        emit(this, 'participant', { participant: this.participants.get(msg.participant.id) });
        break;
      case 'participant_left':
        this.participants.delete(msg.participant_id);
        emit(this, 'participantleft', { participantId: msg.participant_id, reason: msg.reason });
        break;
      case 'track_published':
        this.tracks.set(msg.track.id, { ...msg.track });
        this.syncRemoteTracks();
        break;
      case 'track_unpublished':
        this.tracks.delete(msg.track_id);
        emit(this, 'trackended', { trackId: msg.track_id });
        break;
      case 'track_muted': {
        const t = this.tracks.get(msg.track_id);
        if (t) t.muted = msg.muted;
        emit(this, 'trackmuted', { trackId: msg.track_id, muted: msg.muted });
        break;
      }
      case 'layer_changed':
        emit(this, 'layer', { trackId: msg.track_id, layer: msg.layer, reason: msg.reason });
        break;
      case 'last_n':
        this.lastNPaused = new Set(msg.paused);
        emit(this, 'lastn', { paused: this.lastNPaused });
        break;
      case 'publisher_layers':
        this.publisherLayers.set(msg.track_id, msg.layers);
        this.applyPublisherLayers(msg.track_id);
        break;
      case 'active_speaker':
        emit(this, 'speaker', { participantId: msg.participant_id });
        break;
      case 'chat':
        emit(this, 'chat', {
          participantId: msg.participant_id, name: msg.name, text: msg.text,
          timestampMs: msg.timestamp_ms, mine: msg.participant_id === this.me?.id,
        });
        break;
      case 'hand_raised': {
        const p = this.participants.get(msg.participant_id);
        if (p) p.hand_raised = msg.raised;
        emit(this, 'hand', { participantId: msg.participant_id, raised: msg.raised });
        break;
      }
      case 'role_changed':
        this.onRoleChanged(msg);
        break;
      case 'muted_by_host':
        for (const l of this.local) {
          if (l.source === 'microphone' || l.source === 'camera') {
            l.muted = true;
            l.mediaStreamTrack.enabled = false;
          }
        }
        emit(this, 'mutedbyhost', {});
        break;
      case 'error':
        emit(this, 'servererror', { code: msg.code, message: msg.message });
        break;
      case 'closing':
        this.leaving = msg.reason === 'removed' || msg.reason === 'rate limit exceeded';
        if (this.leaving) this.setState('closed', { reason: msg.reason });
        break;
      default:
        break;
    }
  }

  onRoleChanged(msg) {
    if (msg.participant_id === this.me?.id) {
      this.me.role = msg.role;
      if (!this.canPublish()) {
        // Demoted: the server ended our tracks and publish connection.
        for (const l of this.local) emit(this, 'localtrack', { source: l.source, trackId: null, mediaStreamTrack: null });
        for (const l of this.local) l.mediaStreamTrack.stop();
        this.local = [];
        if (this.pubPc) this.pubPc.close();
        this.pubPc = null;
        this.pubQueue = Promise.resolve();
      }
    } else {
      const p = this.participants.get(msg.participant_id);
      if (p) p.role = msg.role;
    }
    emit(this, 'role', { participantId: msg.participant_id, role: msg.role, me: msg.participant_id === this.me?.id });
  }

  onSubscribeOffer(msg) {
    const pc = this.subPc;
    this.subQueue = this.subQueue.then(async () => {
      if (pc !== this.subPc) return;
      this.midToTrack = new Map(msg.tracks.map((t) => [t.mid, t.track_id]));
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.sig.send({ type: 'subscribe_answer', sdp: pc.localDescription.sdp });
      this.syncRemoteTracks();
    }).catch((e) => emit(this, 'servererror', { code: 'bad_sdp', message: `subscribe: ${e.message || e}` }));
  }

  /** Match the subscribe connection's receivers to the room's tracks. */
  syncRemoteTracks() {
    if (!this.subPc) return;
    for (const tr of this.subPc.getTransceivers()) {
      const id = tr.mid != null ? this.midToTrack.get(tr.mid) : undefined;
      if (!id) continue;
      const info = this.tracks.get(id);
      if (!info || info.receiver === tr.receiver) continue;
      info.receiver = tr.receiver;
      info.mediaStreamTrack = tr.receiver.track;
      emit(this, 'track', { track: info });
    }
  }

  /**
   * Publish a local track as `source` (camera, microphone, screen, screen_audio).
   * The camera goes out in three simulcast layers (or as VP9 or AV1 SVC).
   */
  async publish(source, mediaStreamTrack) {
    if (!this.canPublish()) {
      // Ask anyway so the server's refusal reaches the caller as an error.
    }
    const pc = this.ensurePublishPc();
    const existing = this.local.find((l) => l.source === source);
    if (existing) {
      await existing.transceiver.sender.replaceTrack(mediaStreamTrack);
      existing.mediaStreamTrack = mediaStreamTrack;
      emit(this, 'localtrack', { source, trackId: existing.trackId, mediaStreamTrack });
      return existing.trackId;
    }
    const init = { direction: 'sendonly', streams: [] };
    const svc = source === 'camera' && SVC_CODECS.includes(this.options.videoCodec);
    if (svc) {
      init.sendEncodings = VP9_SVC_ENCODINGS.map((e) => ({ ...e }));
    } else if (source === 'camera') {
      const mode = cameraScalabilityMode(this.options.videoCodec);
      init.sendEncodings = cameraEncodings(CAMERA_ENCODINGS, mode);
    }
    if (source === 'screen') {
      mediaStreamTrack.contentHint = 'detail';
      init.sendEncodings = [{ maxBitrate: 2_500_000 }];
    }
    const transceiver = pc.addTransceiver(mediaStreamTrack, init);
    if (mediaStreamTrack.kind === 'video') {
      preferCodec(transceiver, this.options.videoCodec, { only: svc });
    }
    const entry = { source, mediaStreamTrack, transceiver, trackId: null, muted: false };
    this.local.push(entry);
    try {
      await this.negotiatePublish();
    } catch (e) {
      this.local = this.local.filter((l) => l !== entry);
      try { transceiver.stop(); } catch { /* closed */ }
      if (this.pubPc && this.local.length === 0) {
        this.pubPc.close();
        this.pubPc = null;
        this.pubQueue = Promise.resolve();
      }
      throw e;
    }
    emit(this, 'localtrack', { source, trackId: entry.trackId, mediaStreamTrack });
    return entry.trackId;
  }

  negotiatePublish() {
    const pc = this.pubPc;
    const run = async () => {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const sources = this.local
        .filter((l) => l.transceiver.mid != null && !l.transceiver.stopped)
        .map((l) => ({ mid: l.transceiver.mid, source: l.source }));
      let answer;
      try {
        answer = await this.sig.request({ type: 'publish_offer', sdp: pc.localDescription.sdp, sources });
      } catch (e) {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        throw e;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: withOpusDtx(answer.sdp) });
      for (const { mid, track_id: trackId } of answer.tracks) {
        const l = this.local.find((x) => x.transceiver.mid === mid);
        if (l) {
          l.trackId = trackId;
          this.applyPublisherLayers(trackId);
        }
      }
    };
    const p = this.pubQueue.then(run);
    this.pubQueue = p.catch(() => {});
    return p;
  }

  /** Stop publishing `source`. */
  async unpublish(source) {
    const entry = this.local.find((l) => l.source === source);
    if (!entry) return;
    this.local = this.local.filter((l) => l !== entry);
    entry.mediaStreamTrack.stop();
    try { entry.transceiver.stop(); } catch { /* closed */ }
    emit(this, 'localtrack', { source, trackId: null, mediaStreamTrack: null });
    if (this.pubPc) await this.negotiatePublish().catch(() => {});
  }

  /** Mute or unmute a published source (the track keeps running, silent/black). */
  async setMuted(source, muted) {
    const entry = this.local.find((l) => l.source === source);
    if (!entry) return;
    entry.muted = muted;
    entry.mediaStreamTrack.enabled = !muted;
    if (entry.trackId) await this.sig.request({ type: 'mute', track_id: entry.trackId, muted });
  }

  localTrack(source) {
    return this.local.find((l) => l.source === source) || null;
  }

  /** Dynacast: pause or resume the encodings of an own track as the server asked. */
  async applyPublisherLayers(trackId) {
    const entry = this.local.find((l) => l.trackId === trackId);
    if (!entry) return; // applied when the publish answer names the track
    const applied = await this.publisherLayers.apply(trackId, entry.transceiver.sender);
    if (applied) emit(this, 'publisherlayers', { trackId, layers: this.publisherLayers.get(trackId) });
  }

  /** Whether last-N holds back a remote video track (its owner has not spoken lately). */
  isLastNPaused(trackId) {
    return this.lastNPaused.has(trackId);
  }

  /** Pin a remote video track (received whatever last-N says), or unpin it. */
  pin(trackId, pinned = true) {
    if (pinned) this.pinned.add(trackId); else this.pinned.delete(trackId);
    return this.sig.request({ type: 'pin', track_id: trackId, pinned });
  }

  /** Choose what to receive of a remote video track. */
  subscribe(trackId, { quality, maxWidth, maxHeight } = {}) {
    const msg = { type: 'subscribe', track_id: trackId };
    if (quality) msg.quality = quality;
    else {
      msg.max_width = Math.max(1, Math.round(maxWidth));
      msg.max_height = Math.max(1, Math.round(maxHeight));
    }
    return this.sig?.send(msg);
  }

  sendChat(text) {
    return this.sig.request({ type: 'chat', text });
  }

  raiseHand(raised) {
    return this.sig.request({ type: 'raise_hand', raised });
  }

  setRole(participantId, role) {
    return this.sig.request({ type: 'set_role', participant_id: participantId, role });
  }

  muteParticipant(participantId) {
    return this.sig.request({ type: 'mute_participant', participant_id: participantId });
  }

  removeParticipant(participantId) {
    return this.sig.request({ type: 'remove_participant', participant_id: participantId });
  }

  /** Inbound statistics of a remote track (null when it has none yet). */
  async trackStats(trackId) {
    const info = this.tracks.get(trackId);
    if (!info?.receiver) return null;
    const report = await info.receiver.getStats();
    let inbound = null;
    let rtt = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') inbound = s;
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime != null) rtt = s.currentRoundTripTime;
    });
    if (!inbound) return null;
    return {
      kind: inbound.kind,
      packetsReceived: inbound.packetsReceived ?? 0,
      packetsLost: inbound.packetsLost ?? 0,
      jitter: inbound.jitter ?? 0,
      bytesReceived: inbound.bytesReceived ?? 0,
      framesDecoded: inbound.framesDecoded ?? 0,
      frameWidth: inbound.frameWidth ?? 0,
      frameHeight: inbound.frameHeight ?? 0,
      totalSamplesReceived: inbound.totalSamplesReceived ?? 0,
      audioLevel: inbound.audioLevel ?? 0,
      roundTripTime: rtt,
    };
  }

  /** Leave the room and close everything. */
  async leave() {
    this.leaving = true;
    clearTimeout(this.reconnectTimer);
    if (this.sig) {
      await this.sig.request({ type: 'leave' }).catch(() => {});
      this.sig.close();
    }
    this.teardownPeers();
    for (const l of this.local) l.mediaStreamTrack.stop();
    this.local = [];
    this.setState('closed', { reason: 'left' });
  }
}
