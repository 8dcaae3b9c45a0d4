// A Chromium participant and a Firefox ESR participant in one meeting decode
// each other's video and receive each other's audio.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchChromium, launchFirefox, chromiumPage, firefoxPage, joinFromForm,
  waitDecoding, waitAudio, myId, shot, sleep,
} from './helpers.mjs';

const ROOM = `mixed-${Date.now().toString(36)}`;
let chrome;
let firefox;

before(async () => {
  chrome = await launchChromium();
  firefox = await launchFirefox();
});

after(async () => {
  await chrome?.close();
  await firefox?.close();
});

test('Chromium and Firefox decode each other', async () => {
  const c = await chromiumPage(chrome, `/room/${ROOM}?lang=en`);
  await joinFromForm(c, 'Chromium Carla');
  const f = await firefoxPage(firefox, `/room/${ROOM}?lang=fr`);
  await joinFromForm(f, 'Firefox Félix');
  const cid = await myId(c);
  const fid = await myId(f);
  const fromFirefox = await waitDecoding(c, fid);
  const fromChromium = await waitDecoding(f, cid);
  await waitAudio(c, fid);
  await waitAudio(f, cid);
  console.log(`chromium decodes firefox at ${fromFirefox.frameWidth}x${fromFirefox.frameHeight}; firefox decodes chromium at ${fromChromium.frameWidth}x${fromChromium.frameHeight}`);
  assert.ok(fromFirefox.frameWidth > 0 && fromChromium.frameWidth > 0);
  await sleep(1000);
  await shot(f, 'meeting-firefox-fr');
  await shot(c, 'meeting-chromium-with-firefox');
});
