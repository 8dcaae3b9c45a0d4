// The Relais web interface: start page, pre-join, meeting and webinar views.
// Everything that talks to the server lives in lib/ (RelaisClient); this file
// only shows the room and turns clicks into client calls.

import { RelaisClient } from './lib/client.js';
import { AdaptiveStream } from './lib/adaptive.js';
import { t, lang } from './i18n.js';
import { icon } from './icons.js';

const $ = (id) => document.getElementById(id);
const ROOM_RE = /^[A-Za-z0-9_\-.]{1,64}$/;
const QUALITY_MS = 2000;

const app = {
  client: null,
  adaptive: null,
  preview: null, // MediaStream of the pre-join preview
  camWanted: true,
  micWanted: true,
  layout: 'grid',
  panel: null, // 'chat' | 'people' | null
  unreadChat: 0,
  speaker: null,
  tiles: new Map(), // key -> element
  audio: new Map(), // trackId -> <audio>
  qualityTimer: null,
  lastStats: new Map(),
  params: new URLSearchParams(location.search),
  roomName: null,
};
window.relais = app;

// ---------- small helpers ----------

function show(view) {
  for (const v of ['home', 'prejoin', 'call', 'message']) $(v).hidden = v !== view;
  document.body.dataset.view = view;
}

function toast(text, kind = '') {
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.textContent = text;
  $('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] || '?') + (parts[1]?.[0] || '')).toUpperCase();
}

function setButton(btn, iconName, label, { pressed, off } = {}) {
  const badge = btn.querySelector('.badge');
  btn.innerHTML = icon(iconName);
  if (badge) btn.append(badge);
  btn.setAttribute('aria-label', label);
  btn.title = label;
  if (pressed !== undefined) btn.setAttribute('aria-pressed', String(pressed));
  btn.classList.toggle('off', !!off);
}

function fillText() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t[el.dataset.t];
  document.querySelector('.skip').textContent = lang === 'fr' ? 'Aller au contenu' : 'Skip to content';
  $('home-tagline').textContent = t.tagline;
  $('home-title').textContent = t.startTitle;
  $('home-room-label').textContent = t.roomName;
  $('home-room-hint').textContent = t.roomNameHint;
  $('home-kind').textContent = t.kind;
  $('home-random').textContent = t.randomRoom;
  $('home-submit').textContent = t.continue;
  $('prejoin-title').textContent = t.prejoinTitle;
  $('prejoin-attendee').textContent = t.prejoinAttendee;
  $('join-button').textContent = t.join;
  $('chat-send').textContent = t.send;
  $('chat-input').placeholder = t.chatPlaceholder;
  $('invites-title').textContent = t.invites;
  $('invites-close').textContent = t.close;
  for (const b of document.querySelectorAll('button.copy')) { b.textContent = t.copyLink; }
  $('copy-link').innerHTML = `${icon('link')}<span>${t.copyLink}</span>`;
  $('show-invites').innerHTML = `${icon('ticket')}<span>${t.invites}</span>`;
  setButton($('panel-close'), 'close', t.close);
  $('stage').setAttribute('aria-label', lang === 'fr' ? 'Vidéos' : 'Videos');
  $('controls').setAttribute('aria-label', lang === 'fr' ? "Commandes de l'appel" : 'Call controls');
}

function showMessage(title, text, actions) {
  stopPreview();
  show('message');
  $('message-title').textContent = title;
  $('message-text').textContent = text;
  const box = $('message-actions');
  box.replaceChildren();
  for (const a of actions) {
    const el = document.createElement(a.href ? 'a' : 'button');
    el.className = `btn ${a.primary ? 'primary' : 'ghost'}`;
    el.textContent = a.label;
    if (a.href) el.href = a.href;
    else { el.type = 'button'; el.addEventListener('click', a.onClick); }
    box.append(el);
  }
  box.querySelector('.btn')?.focus();
}

function errorText(e) {
  return t.errors[e?.code] || e?.message || t.errors.generic;
}

// ---------- start page ----------

function randomRoomName() {
  const a = ['blue', 'quiet', 'bright', 'swift', 'green', 'calm', 'north', 'sunny'];
  const b = ['harbor', 'meadow', 'river', 'summit', 'garden', 'bridge', 'forest', 'studio'];
  const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
  return `${pick(a)}-${pick(b)}-${Math.floor(100 + Math.random() * 900)}`;
}

function startHome() {
  show('home');
  $('home-random').addEventListener('click', () => { $('home-room').value = randomRoomName(); $('home-room').focus(); });
  $('home-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const room = $('home-room').value.trim();
    if (!ROOM_RE.test(room)) {
      $('home-error').textContent = t.roomNameHint;
      $('home-room').setAttribute('aria-invalid', 'true');
      $('home-room').focus();
      return;
    }
    const mode = new FormData($('home-form')).get('mode');
    const q = mode === 'webinar' ? '?mode=webinar&role=host' : '';
    location.assign(`/room/${encodeURIComponent(room)}${q}`);
  });
  $('home-room').focus();
}

// ---------- pre-join ----------

function stopPreview() {
  if (app.preview) for (const tr of app.preview.getTracks()) tr.stop();
  app.preview = null;
}

async function openPreview() {
  const camId = $('camera-select').value;
  const micId = $('mic-select').value;
  stopPreview();
  const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (camId) video.deviceId = { exact: camId };
  const audio = micId ? { deviceId: { exact: micId } } : true;
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video, audio });
  } catch {
    // One of the two may still work alone.
    for (const c of [{ video }, { audio }]) {
      try {
        const s = await navigator.mediaDevices.getUserMedia(c);
        stream = stream || new MediaStream();
        for (const tr of s.getTracks()) stream.addTrack(tr);
      } catch { /* that device is missing or denied */ }
    }
  }
  app.preview = stream;
  const hasVideo = !!stream?.getVideoTracks().length;
  const hasAudio = !!stream?.getAudioTracks().length;
  $('preview').srcObject = hasVideo ? stream : null;
  $('preview-off').hidden = hasVideo && app.camWanted;
  $('preview-off').textContent = hasVideo ? t.cameraOff : t.noCameraShort;
  $('prejoin-notice').hidden = hasVideo || hasAudio;
  $('prejoin-notice').textContent = t.noCamera;
  $('prejoin-cam').disabled = !hasVideo;
  $('prejoin-mic').disabled = !hasAudio;
  if (stream) for (const tr of stream.getVideoTracks()) tr.enabled = app.camWanted;
  await listDevices();
}

async function listDevices() {
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
  const fill = (select, kind, current) => {
    const list = devices.filter((d) => d.kind === kind);
    select.replaceChildren(...list.map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${kind === 'videoinput' ? t.camera : t.microphone} ${i + 1}`;
      return o;
    }));
    if (current) select.value = current;
    select.disabled = list.length === 0;
  };
  const cur = (kind) => app.preview?.getTracks().find((x) => x.kind === kind)?.getSettings().deviceId;
  fill($('camera-select'), 'videoinput', cur('video'));
  fill($('mic-select'), 'audioinput', cur('audio'));
}

function renderPrejoinToggles() {
  setButton($('prejoin-cam'), app.camWanted ? 'cam' : 'camOff', app.camWanted ? t.camOn : t.camOff, { pressed: app.camWanted });
  setButton($('prejoin-mic'), app.micWanted ? 'mic' : 'micOff', app.micWanted ? t.micOn : t.micOff, { pressed: app.micWanted });
  const hasVideo = !!app.preview?.getVideoTracks().length;
  $('preview-off').hidden = hasVideo && app.camWanted;
  if (app.preview) for (const tr of app.preview.getVideoTracks()) tr.enabled = app.camWanted;
}

function startPrejoin(room) {
  app.roomName = room;
  show('prejoin');
  document.title = `${room} · Relais`;
  const role = app.params.get('role');
  const attendee = role === 'attendee';
  $('prejoin-name').value = app.params.get('name') || localStorage.getItem('relais.name') || '';
  $('device-fields').hidden = attendee;
  $('prejoin-attendee').hidden = !attendee;
  if (attendee) {
    $('preview-off').hidden = false;
    $('preview-off').textContent = t.receiveOnly;
  } else {
    renderPrejoinToggles();
    app.previewReady = openPreview();
    $('camera-select').addEventListener('change', () => { app.previewReady = openPreview(); });
    $('mic-select').addEventListener('change', () => { app.previewReady = openPreview(); });
    $('prejoin-cam').addEventListener('click', () => { app.camWanted = !app.camWanted; renderPrejoinToggles(); });
    $('prejoin-mic').addEventListener('click', () => { app.micWanted = !app.micWanted; renderPrejoinToggles(); });
    const codec = app.params.get('codec');
    if (['H264', 'VP9', 'AV1'].includes(codec)) $('codec-select').value = codec;
  }
  $('prejoin-form').addEventListener('submit', (ev) => { ev.preventDefault(); joinRoom(); });
  $('prejoin-name').focus();
}

// ---------- joining ----------

async function joinRoom() {
  const name = $('prejoin-name').value.trim();
  if (!name) {
    $('prejoin-error').textContent = t.yourName;
    $('prejoin-name').setAttribute('aria-invalid', 'true');
    $('prejoin-name').focus();
    return;
  }
  localStorage.setItem('relais.name', name);
  $('prejoin-error').textContent = '';
  $('join-button').disabled = true;
  $('join-button').textContent = t.joining;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const client = new RelaisClient({
    url: `${scheme}://${location.host}/ws`,
    room: app.roomName,
    name,
    token: app.params.get('token') || undefined,
    role: app.params.get('role') || undefined,
    mode: app.params.get('mode') || undefined,
    // Development mode: the last-N of a room this join makes (?last_n=4).
    lastN: app.params.has('last_n') ? Number(app.params.get('last_n')) : undefined,
    videoCodec: $('codec-select').value,
  });
  app.client = client;
  app.myName = name;
  wireClient(client);
  try {
    await client.join();
  } catch (e) {
    $('join-button').disabled = false;
    $('join-button').textContent = t.join;
    const retry = { label: t.retry, primary: true, onClick: () => location.reload() };
    const home = { label: t.home, href: '/' };
    $('status').textContent = '';
    showMessage(t.cannotJoin, errorText(e), e.code === 'unauthorized' || e.code === 'room_closed' ? [home] : [retry, home]);
    return;
  }
  enterCall();
  await app.previewReady;
  if (client.canPublish() && app.preview) {
    const mic = app.preview.getAudioTracks()[0];
    const cam = app.preview.getVideoTracks()[0];
    app.preview = null;
    try {
      if (mic) { await client.publish('microphone', mic); if (!app.micWanted) await client.setMuted('microphone', true); }
      if (cam) { cam.enabled = true; await client.publish('camera', cam); if (!app.camWanted) await client.setMuted('camera', true); }
    } catch (e) {
      toast(errorText(e), 'error');
    }
  } else {
    stopPreview();
  }
  renderControls();
  renderLocalTiles();
}

function enterCall() {
  show('call');
  const c = app.client;
  $('room-title').hidden = false;
  $('room-title').innerHTML = '';
  const nameEl = document.createElement('span');
  nameEl.textContent = c.room.name;
  const modeEl = document.createElement('span');
  modeEl.className = 'mode';
  modeEl.textContent = c.room.mode === 'webinar' ? t.webinar : t.meeting;
  $('room-title').append(nameEl, modeEl);
  $('topbar-actions').hidden = false;
  $('show-invites').hidden = !(c.room.mode === 'webinar' && c.me.role === 'host');
  if (c.room.development) toast(t.devMode);
  app.adaptive = new AdaptiveStream(c);
  clearInterval(app.qualityTimer);
  app.qualityTimer = setInterval(updateQuality, QUALITY_MS);
  renderControls();
  renderPeople();
  renderLocalTiles();
  renderChatEmpty();
  $('btn-leave').focus();
}

// ---------- client events ----------

function wireClient(client) {
  client.addEventListener('state', ({ detail }) => {
    const s = $('status');
    s.className = `status ${detail.state}`;
    if (detail.state === 'connecting') s.textContent = t.connecting;
    if (detail.state === 'connected') {
      s.textContent = t.connected;
      $('banner').hidden = true;
      if (detail.reconnected) { toast(t.reconnected); renderControls(); renderLocalTiles(); renderPeople(); }
    }
    if (detail.state === 'reconnecting') {
      s.textContent = t.reconnecting;
      $('banner').hidden = false;
      $('banner').className = 'banner';
      $('banner').textContent = t.reconnecting;
    }
    if (detail.state === 'closed') {
      s.textContent = '';
      cleanupCall();
      const again = { label: t.rejoin, primary: true, onClick: () => location.reload() };
      const home = { label: t.home, href: '/' };
      if (detail.reason === 'left') showMessage(t.leftTitle, '', [again, home]);
      else if (detail.reason === 'removed') showMessage(t.removedTitle, '', [home]);
      else showMessage(t.errors.generic, errorText(detail.error || { code: detail.reason }), [again, home]);
    }
  });
  client.addEventListener('participant', ({ detail }) => {
    if (document.body.dataset.view === 'call' && !app.tiles.has(`p:${detail.participant.id}`) && app.client.state === 'connected') {
      toast(t.joinedToast(detail.participant.name));
    }
    renderParticipantTile(detail.participant.id);
    renderPeople();
  });
  client.addEventListener('participantleft', ({ detail }) => {
    const el = app.tiles.get(`p:${detail.participantId}`);
    if (el && detail.reason !== 'reconnecting') toast(t.leftToast(el.dataset.name));
    removeTile(`p:${detail.participantId}`);
    renderPeople();
    layoutStage();
  });
  client.addEventListener('track', ({ detail }) => attachRemoteTrack(detail.track));
  client.addEventListener('trackended', ({ detail }) => detachRemoteTrack(detail.trackId));
  client.addEventListener('trackmuted', ({ detail }) => {
    const tr = client.tracks.get(detail.trackId);
    if (tr) renderParticipantTile(tr.participant_id);
  });
  client.addEventListener('lastn', () => {
    for (const p of client.participants.values()) renderParticipantTile(p.id);
  });
  client.addEventListener('speaker', ({ detail }) => {
    app.speaker = detail.participantId;
    for (const [key, el] of app.tiles) {
      const pid = key.startsWith('p:') ? key.slice(2) : null;
      el.classList.toggle('speaking', !!pid && (pid === detail.participantId || (pid === 'me' && detail.participantId === client.me.id)));
    }
    if (app.layout === 'speaker') layoutStage();
  });
  client.addEventListener('chat', ({ detail }) => addChat(detail));
  client.addEventListener('hand', ({ detail }) => {
    if (detail.participantId === client.me.id) app.handRaised = detail.raised;
    else if (detail.raised) {
      const p = client.participants.get(detail.participantId);
      if (p && client.me.role === 'host') toast(`${p.name} ${t.handRaised}`);
    }
    renderParticipantTile(detail.participantId);
    renderPeople();
    renderControls();
  });
  client.addEventListener('role', async ({ detail }) => {
    if (detail.me) {
      if (client.canPublish()) {
        toast(t.promotedYou);
        if (app.handRaised) client.raiseHand(false).catch(() => {});
        app.handRaised = false;
        await startMicrophone();
        await startCamera();
      } else {
        toast(t.demotedYou);
      }
      renderLocalTiles();
    } else {
      renderParticipantTile(detail.participantId);
    }
    renderControls();
    renderPeople();
    layoutStage();
  });
  client.addEventListener('mutedbyhost', () => { toast(t.mutedByHost); renderControls(); renderLocalTiles(); });
  client.addEventListener('localtrack', () => { renderControls(); renderLocalTiles(); });
  client.addEventListener('servererror', ({ detail }) => toast(errorText(detail), 'error'));
}

// ---------- tiles ----------

function isOnStage(participant) {
  if (app.client.room.mode !== 'webinar') return true;
  return participant.role === 'host' || participant.role === 'presenter';
}

function makeTile(key, { name, local = false, screen = false }) {
  let el = app.tiles.get(key);
  if (el) return el;
  el = document.createElement('div');
  el.className = `tile${local ? ' local' : ''}${screen ? ' screen' : ''}`;
  el.dataset.key = key;
  el.setAttribute('role', 'group');
  el.innerHTML = `<video autoplay playsinline muted></video>
    <div class="avatar" aria-hidden="true"><span></span></div>
    <span class="hand" aria-hidden="true" hidden></span>
    <div class="label"><span class="mic-off" hidden></span><span class="name"></span></div>
    <div class="quality" role="img" hidden><i></i><i></i><i></i></div>
    <button class="pin" type="button" hidden></button>`;
  el.querySelector('.mic-off').innerHTML = icon('micOff');
  el.querySelector('.hand').innerHTML = icon('hand');
  app.tiles.set(key, el);
  $('stage').append(el);
  setTileName(el, name);
  return el;
}

function setTileName(el, name) {
  el.dataset.name = name;
  el.querySelector('.name').textContent = name;
  el.querySelector('.avatar span').textContent = initials(name);
  el.setAttribute('aria-label', name);
}

function setTileVideo(el, track, trackId) {
  const video = el.querySelector('video');
  const current = video.srcObject?.getVideoTracks()[0] || null;
  if (track && current !== track) video.srcObject = new MediaStream([track]);
  if (!track && video.srcObject) video.srcObject = null;
  el.classList.toggle('has-video', !!track);
  if (trackId && app.adaptive && el.dataset.track !== trackId) {
    app.adaptive.observe(trackId, video);
  }
  if (!trackId && el.dataset.track && app.adaptive) app.adaptive.unobserve(video);
  if (trackId) el.dataset.track = trackId; else delete el.dataset.track;
  el.querySelector('.quality').hidden = !trackId;
}

function removeTile(key) {
  const el = app.tiles.get(key);
  if (!el) return;
  if (app.adaptive) app.adaptive.unobserve(el.querySelector('video'));
  el.remove();
  app.tiles.delete(key);
}

function tracksOf(pid) {
  return [...app.client.tracks.values()].filter((x) => x.participant_id === pid);
}

function renderParticipantTile(pid) {
  const c = app.client;
  const p = c.participants.get(pid);
  if (!p) return;
  const key = `p:${pid}`;
  if (!isOnStage(p)) {
    removeTile(key);
    layoutStage();
    return;
  }
  const el = makeTile(key, { name: p.name });
  el.dataset.participant = pid;
  el.dataset.role = p.role;
  setTileName(el, p.name);
  const tracks = tracksOf(pid);
  const cam = tracks.find((x) => x.source === 'camera');
  const mic = tracks.find((x) => x.source === 'microphone');
  const camLive = cam && cam.mediaStreamTrack && !cam.muted;
  setTileVideo(el, camLive ? cam.mediaStreamTrack : null, cam?.mediaStreamTrack ? cam.id : null);
  el.querySelector('.mic-off').hidden = !!(mic && !mic.muted);
  el.querySelector('.hand').hidden = !p.hand_raised;
  el.classList.toggle('speaking', app.speaker === pid);
  renderPin(el, pid, cam);
  layoutStage();
}

/** Last-N and pinning of a remote participant's camera on its tile. */
function renderPin(el, pid, cam) {
  const c = app.client;
  const paused = !!cam && c.isLastNPaused(cam.id);
  el.classList.toggle('last-n', paused);
  el.title = paused ? t.lastNPaused : '';
  const btn = el.querySelector('.pin');
  btn.hidden = !cam;
  if (!cam) return;
  const pinned = c.pinned.has(cam.id);
  btn.textContent = pinned ? t.unpin : t.pin;
  btn.setAttribute('aria-pressed', String(pinned));
  btn.onclick = () => {
    c.pin(cam.id, !pinned)
      .then(() => renderParticipantTile(pid))
      .catch((e) => toast(errorText(e), 'error'));
  };
}

function attachRemoteTrack(track) {
  if (track.kind === 'audio') {
    let a = app.audio.get(track.id);
    if (!a) {
      a = document.createElement('audio');
      a.autoplay = true;
      a.dataset.track = track.id;
      $('audio-sink').append(a);
      app.audio.set(track.id, a);
    }
    a.srcObject = new MediaStream([track.mediaStreamTrack]);
    a.play().catch(() => {});
    renderParticipantTile(track.participant_id);
    return;
  }
  if (track.source === 'screen') {
    const owner = app.client.participants.get(track.participant_id);
    const el = makeTile(`s:${track.id}`, { name: t.screenOf(owner?.name || '?'), screen: true });
    el.dataset.participant = track.participant_id;
    el.dataset.source = 'screen';
    setTileVideo(el, track.mediaStreamTrack, track.id);
    layoutStage();
    return;
  }
  renderParticipantTile(track.participant_id);
}

function detachRemoteTrack(trackId) {
  const a = app.audio.get(trackId);
  if (a) { a.srcObject = null; a.remove(); app.audio.delete(trackId); }
  if (app.tiles.has(`s:${trackId}`)) removeTile(`s:${trackId}`);
  for (const el of app.tiles.values()) {
    if (el.dataset.track === trackId) setTileVideo(el, null, null);
  }
  // The participant's tile (if any) is refreshed from what is left.
  for (const p of app.client.participants.values()) renderParticipantTile(p.id);
  layoutStage();
}

function renderLocalTiles() {
  const c = app.client;
  if (!c || !c.me) return;
  const onStage = c.canPublish();
  if (!onStage) {
    removeTile('p:me');
    removeTile('s:me');
  } else {
    const el = makeTile('p:me', { name: `${app.myName} ${t.youSuffix}`, local: true });
    el.dataset.participant = c.me.id;
    const cam = c.localTrack('camera');
    const mic = c.localTrack('microphone');
    const video = el.querySelector('video');
    const camTrack = cam && !cam.muted ? cam.mediaStreamTrack : null;
    if (camTrack && video.srcObject?.getVideoTracks()[0] !== camTrack) video.srcObject = new MediaStream([camTrack]);
    if (!camTrack) video.srcObject = null;
    el.classList.toggle('has-video', !!camTrack);
    el.querySelector('.mic-off').hidden = !!(mic && !mic.muted);
    el.querySelector('.hand').hidden = !app.handRaised;
    const screen = c.localTrack('screen');
    if (screen) {
      const s = makeTile('s:me', { name: t.screenOf(app.myName), screen: true, local: true });
      s.dataset.source = 'screen';
      const v = s.querySelector('video');
      if (v.srcObject?.getVideoTracks()[0] !== screen.mediaStreamTrack) v.srcObject = new MediaStream([screen.mediaStreamTrack]);
      s.classList.add('has-video');
    } else {
      removeTile('s:me');
    }
  }
  layoutStage();
}

function layoutStage() {
  const stage = $('stage');
  const tiles = [...app.tiles.values()];
  const c = app.client;
  let main = tiles.find((el) => el.classList.contains('screen') && !el.classList.contains('local'))
    || tiles.find((el) => el.classList.contains('screen'));
  if (!main && app.layout === 'speaker' && tiles.length > 1) {
    main = app.tiles.get(`p:${app.speaker}`) || tiles.find((el) => !el.classList.contains('local')) || tiles[0];
  }
  for (const el of tiles) el.classList.toggle('main', el === main);
  stage.classList.toggle('focus', !!main && tiles.length > 1);
  if (main && tiles.length > 1) {
    stage.style.setProperty('--side', String(Math.max(4, tiles.length - 1)));
    // Main first, then the others in the side column.
    stage.prepend(main);
  } else {
    const n = Math.max(1, tiles.length);
    const cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : 4;
    stage.style.setProperty('--cols', String(cols));
  }
  const empty = $('stage-empty');
  const remote = tiles.filter((el) => !el.classList.contains('local'));
  empty.hidden = remote.length > 0;
  empty.textContent = c?.room?.mode === 'webinar' && !c.canPublish() ? t.waitingPresenters : t.alone;
  if (!empty.hidden) stage.append(empty);
}

async function updateQuality() {
  const c = app.client;
  if (!c || c.state !== 'connected') return;
  for (const el of app.tiles.values()) {
    const id = el.dataset.track;
    if (!id || el.classList.contains('local')) continue;
    const s = await c.trackStats(id).catch(() => null);
    if (!s) continue;
    const prev = app.lastStats.get(id);
    app.lastStats.set(id, s);
    let level = 'none';
    if (prev) {
      const recv = s.packetsReceived - prev.packetsReceived;
      const lost = Math.max(0, s.packetsLost - prev.packetsLost);
      const loss = recv + lost > 0 ? lost / (recv + lost) : 0;
      const rtt = s.roundTripTime ?? 0;
      if (recv === 0) level = 'none';
      else if (loss < 0.02 && s.jitter < 0.03 && rtt < 0.3) level = 'good';
      else if (loss < 0.08 && rtt < 0.6) level = 'fair';
      else level = 'poor';
    }
    const q = el.querySelector('.quality');
    q.className = `quality ${level}`;
    q.setAttribute('aria-label', t.quality[level]);
    q.title = t.quality[level];
  }
}

// ---------- controls ----------

function renderControls() {
  const c = app.client;
  if (!c?.me) return;
  const pub = c.canPublish();
  for (const b of document.querySelectorAll('[data-publish]')) b.hidden = !pub;
  const mic = c.localTrack('microphone');
  const cam = c.localTrack('camera');
  const screen = c.localTrack('screen');
  const micOn = !!mic && !mic.muted;
  const camOn = !!cam && !cam.muted;
  setButton($('btn-mic'), micOn ? 'mic' : 'micOff', micOn ? t.micOn : t.micOff, { off: !micOn });
  setButton($('btn-cam'), camOn ? 'cam' : 'camOff', camOn ? t.camOn : t.camOff, { off: !camOn });
  setButton($('btn-screen'), 'screen', screen ? t.stopShare : t.share, { pressed: !!screen });
  $('btn-hand').hidden = c.me.role === 'host';
  setButton($('btn-hand'), 'hand', app.handRaised ? t.lowerHand : t.raiseHand, { pressed: !!app.handRaised });
  setButton($('btn-layout'), app.layout === 'grid' ? 'speaker' : 'grid', app.layout === 'grid' ? t.layoutSpeaker : t.layoutGrid);
  setButton($('btn-chat'), 'chat', t.chat, { pressed: app.panel === 'chat' });
  setButton($('btn-people'), 'people', t.people, { pressed: app.panel === 'people' });
  setButton($('btn-leave'), 'leave', t.leave);
  $('btn-leave').insertAdjacentHTML('beforeend', `<span>${t.leave}</span>`);
  $('chat-badge').hidden = app.unreadChat === 0;
  $('chat-badge').textContent = String(app.unreadChat);
  const hands = [...c.participants.values()].filter((p) => p.hand_raised && (c.room.mode !== 'webinar' || p.role === 'attendee')).length;
  $('people-badge').hidden = !(c.me.role === 'host' && hands > 0);
  $('people-badge').textContent = String(hands);
}

async function startCamera() {
  const c = app.client;
  try {
    const existing = c.localTrack('camera');
    if (existing) { await c.setMuted('camera', false); return; }
    const s = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
    try {
      await c.publish('camera', s.getVideoTracks()[0]);
    } catch (e) {
      for (const tr of s.getTracks()) tr.stop();
      throw e;
    }
  } catch (e) {
    showError(e, t.errors.media);
  } finally {
    renderControls();
    renderLocalTiles();
  }
}

async function startMicrophone() {
  const c = app.client;
  try {
    const existing = c.localTrack('microphone');
    if (existing) { await c.setMuted('microphone', false); return; }
    const s = await navigator.mediaDevices.getUserMedia({ audio: true });
    try {
      await c.publish('microphone', s.getAudioTracks()[0]);
    } catch (e) {
      for (const tr of s.getTracks()) tr.stop();
      throw e;
    }
  } catch (e) {
    showError(e, t.errors.media);
  } finally {
    renderControls();
    renderLocalTiles();
  }
}

function showError(e, fallback) {
  const text = e?.code ? errorText(e) : `${fallback}${e?.message ? ` (${e.message})` : ''}`;
  toast(text, 'error');
  const b = $('banner');
  b.hidden = false;
  b.className = 'banner error';
  b.setAttribute('role', 'alert');
  b.textContent = text;
  setTimeout(() => { if (b.textContent === text) b.hidden = true; }, 8000);
}

async function toggleScreen() {
  const c = app.client;
  if (c.localTrack('screen')) {
    await c.unpublish('screen');
    return;
  }
  try {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    const track = s.getVideoTracks()[0];
    track.addEventListener('ended', () => c.unpublish('screen'));
    await c.publish('screen', track);
  } catch (e) {
    showError(e, t.errors.screen);
  }
}

function wireControls() {
  $('btn-mic').addEventListener('click', async () => {
    const m = app.client.localTrack('microphone');
    if (!m) await startMicrophone();
    else await app.client.setMuted('microphone', !m.muted).catch((e) => showError(e));
    renderControls(); renderLocalTiles();
  });
  $('btn-cam').addEventListener('click', async () => {
    const m = app.client.localTrack('camera');
    if (!m) await startCamera();
    else await app.client.setMuted('camera', !m.muted).catch((e) => showError(e));
    renderControls(); renderLocalTiles();
  });
  $('btn-screen').addEventListener('click', toggleScreen);
  $('btn-hand').addEventListener('click', async () => {
    const raised = !app.handRaised;
    await app.client.raiseHand(raised).catch((e) => showError(e));
  });
  $('btn-layout').addEventListener('click', () => {
    app.layout = app.layout === 'grid' ? 'speaker' : 'grid';
    renderControls();
    layoutStage();
  });
  $('btn-chat').addEventListener('click', () => togglePanel('chat'));
  $('btn-people').addEventListener('click', () => togglePanel('people'));
  $('panel-close').addEventListener('click', () => togglePanel(null));
  $('btn-leave').addEventListener('click', () => app.client.leave());
  $('chat-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('chat-input').value.trim();
    if (!text) return;
    $('chat-input').value = '';
    await app.client.sendChat(text).catch((e) => showError(e));
  });
  $('copy-link').addEventListener('click', () => copy(roomLink()));
  $('show-invites').addEventListener('click', openInvites);
  for (const b of document.querySelectorAll('button.copy')) {
    b.addEventListener('click', () => copy($(b.dataset.copy).value));
  }
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && app.panel) togglePanel(null);
  });
}

function togglePanel(which) {
  app.panel = app.panel === which ? null : which;
  $('panel').hidden = !app.panel;
  $('chat-panel').hidden = app.panel !== 'chat';
  $('people-panel').hidden = app.panel !== 'people';
  $('panel-title').textContent = app.panel === 'chat' ? t.chat : t.people;
  if (app.panel === 'chat') { app.unreadChat = 0; $('chat-input').focus(); }
  if (app.panel === 'people') renderPeople();
  if (!app.panel) $(`btn-${which === null ? 'chat' : which}`)?.focus();
  renderControls();
}

function roomLink() {
  const u = new URL(`/room/${encodeURIComponent(app.roomName)}`, location.origin);
  const mode = app.client?.room?.mode;
  if (mode === 'webinar') { u.searchParams.set('mode', 'webinar'); u.searchParams.set('role', 'attendee'); }
  return u.toString();
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast(t.linkCopied); } catch { toast(text); }
}

/** Presenter and attendee links: from the server when it mints tokens, else development links. */
async function invites() {
  const headers = { 'content-type': 'application/json' };
  const token = app.params.get('token');
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const r = await fetch('/api/invites', { method: 'POST', headers, body: JSON.stringify({ room: app.roomName }) });
    if (r.ok) {
      const links = await r.json();
      return {
        presenter: new URL(links.presenter, location.origin).toString(),
        attendee: new URL(links.attendee, location.origin).toString(),
      };
    }
  } catch { /* fall back */ }
  const make = (role) => {
    const u = new URL(`/room/${encodeURIComponent(app.roomName)}`, location.origin);
    u.searchParams.set('mode', 'webinar');
    u.searchParams.set('role', role);
    return u.toString();
  };
  return { presenter: make('presenter'), attendee: make('attendee') };
}

async function openInvites() {
  const links = await invites();
  $('invite-presenter').value = links.presenter;
  $('invite-attendee').value = links.attendee;
  $('invites-dialog').showModal();
}

// ---------- chat and people ----------

function renderChatEmpty() {
  const log = $('chat-log');
  if (log.children.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = t.chatEmpty;
    log.append(li);
  }
}

function addChat(m) {
  const log = $('chat-log');
  log.querySelector('.empty')?.remove();
  const li = document.createElement('li');
  if (m.mine) li.classList.add('mine');
  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('strong');
  who.textContent = m.mine ? t.you : m.name;
  const when = document.createElement('time');
  const d = new Date(m.timestampMs);
  when.dateTime = d.toISOString();
  when.textContent = d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
  meta.append(who, when);
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = m.text;
  li.append(meta, text);
  log.append(li);
  log.scrollTop = log.scrollHeight;
  if (app.panel !== 'chat') { app.unreadChat += 1; renderControls(); }
}

function personRow(p, me) {
  const c = app.client;
  const li = document.createElement('li');
  li.dataset.participant = p.id;
  const mini = document.createElement('span');
  mini.className = 'mini';
  mini.setAttribute('aria-hidden', 'true');
  mini.textContent = initials(p.name);
  const who = document.createElement('span');
  who.className = 'who';
  const n = document.createElement('span');
  n.className = 'who-name';
  if (p.hand_raised) {
    const h = document.createElement('span');
    h.className = 'hand-icon';
    h.innerHTML = icon('hand');
    h.setAttribute('role', 'img');
    h.setAttribute('aria-label', t.raiseHand);
    n.append(h);
  }
  n.append(`${p.name}${me ? ` ${t.youSuffix}` : ''}`);
  const r = document.createElement('small');
  r.textContent = t.roles[p.role] || p.role;
  who.append(n, r);
  li.append(mini, who);
  if (!me && c.me.role === 'host') {
    const actions = document.createElement('span');
    actions.className = 'actions';
    const add = (label, fn, cls = '') => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `btn ghost ${cls}`;
      b.textContent = label;
      b.setAttribute('aria-label', `${label}: ${p.name}`);
      b.addEventListener('click', () => fn().catch((e) => showError(e)));
      actions.append(b);
    };
    if (c.room.mode === 'webinar') {
      if (p.role === 'attendee') add(t.promote, () => c.setRole(p.id, 'presenter'), 'promote');
      if (p.role === 'presenter') add(t.demote, () => c.setRole(p.id, 'attendee'), 'demote');
    }
    add(t.mute, () => c.muteParticipant(p.id), 'mute');
    add(t.remove, () => c.removeParticipant(p.id), 'remove');
    li.append(actions);
  }
  return li;
}

function renderPeople() {
  const c = app.client;
  if (!c?.me) return;
  const everyone = [...c.participants.values()];
  const meRow = { id: c.me.id, name: app.myName, role: c.me.role, hand_raised: !!app.handRaised };
  const order = { host: 0, presenter: 1, participant: 2, attendee: 3 };
  everyone.sort((a, b) => (order[a.role] - order[b.role]) || a.name.localeCompare(b.name));
  $('people-list').replaceChildren(personRow(meRow, true), ...everyone.map((p) => personRow(p, false)));
  const hands = everyone.filter((p) => p.hand_raised && (c.room.mode !== 'webinar' || p.role === 'attendee'));
  $('hands-section').hidden = !(c.me.role === 'host' && hands.length);
  $('hands-list').replaceChildren(...hands.map((p) => personRow(p, false)));
}

function cleanupCall() {
  clearInterval(app.qualityTimer);
  for (const key of [...app.tiles.keys()]) removeTile(key);
  for (const a of app.audio.values()) a.remove();
  app.audio.clear();
  $('room-title').hidden = true;
  $('topbar-actions').hidden = true;
}

// The interface's own actions, for scripts and tests (window.relais).
Object.assign(app, { startCamera, startMicrophone, toggleScreen });

// ---------- start ----------

function main() {
  fillText();
  wireControls();
  const path = decodeURIComponent(location.pathname);
  if (path === '/' || path === '/index.html') { startHome(); return; }
  const m = /^\/room\/([^/]*)\/?$/.exec(path);
  if (!m || !ROOM_RE.test(m[1])) {
    showMessage(t.cannotJoin, t.errors.badRoom, [{ label: t.home, href: '/', primary: true }]);
    return;
  }
  startPrejoin(m[1]);
}

main();
