// The H264 codec choice: Alice's camera, asked for H264 in the pre-join
// form, is sent as H264 and Bob decodes it through the server. The server
// answers the codec the offer puts first; it used to answer in str0m's own
// order, and Chromium then sent VP8 (her microphone's audio-only offer
// comes first, so the choice must hold on every offer).

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchChromium, chromiumPage, joinFromForm, waitDecoding, waitFor, myId,
} from './helpers.mjs';

const ROOM = `h264-${Date.now().toString(36)}`;
let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

test('a camera asked for H264 is sent as H264 and decoded by a viewer', async () => {
  const alice = await chromiumPage(browser, `/room/${ROOM}`);
  await waitFor(alice, () => !document.getElementById('prejoin').hidden, null, { what: 'the pre-join form' });
  const canSend = await alice.evaluate(() => RTCRtpSender.getCapabilities('video').codecs
    .some((c) => c.mimeType === 'video/H264'));
  console.log(`Chromium lists H264 for sending: ${canSend}`);
  await alice.evaluate(() => { document.getElementById('codec-select').value = 'H264'; });
  await joinFromForm(alice, 'Alice');
  const bob = await chromiumPage(browser, `/room/${ROOM}`);
  await joinFromForm(bob, 'Bob');
  const aliceId = await myId(alice);
  await waitDecoding(bob, aliceId);
  const codecs = await waitFor(alice, async () => {
    const report = await window.relais.client.localTrack('camera')?.transceiver.sender.getStats();
    const out = [];
    report?.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.framesEncoded > 0) {
        out.push(report.get(s.codecId)?.mimeType);
      }
    });
    return out.length ? out : null;
  }, null, { what: 'Alice encoding her camera' });
  console.log(`Alice's camera encodes ${JSON.stringify(codecs)}`);
  assert.ok(canSend, 'this Chromium can send H264');
  for (const c of codecs) assert.equal(c, 'video/H264');
});
