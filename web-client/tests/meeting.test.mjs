// A meeting in Chromium: two participants decode each other's video and
// receive audio; the size of a remote tile picks the simulcast layer and a
// hidden tile gets no frames; a screen share reaches the other side; chat
// reaches everyone; a participant who leaves disappears from the grid.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchChromium, chromiumPage, joinFromForm, waitDecoding, waitAudio, waitFor,
  remoteStats, myId, shot, sleep,
} from './helpers.mjs';

const ROOM = `meeting-${Date.now().toString(36)}`;
let browser;
let alice;
let bob;
let aliceId;
let bobId;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** Stats of one remote camera track. */
async function cameraStats(page, pid) {
  const all = await remoteStats(page);
  return all.find((s) => s.participant === pid && s.source === 'camera' && s.kind === 'video');
}

/** Wait until frameWidth of pid's camera on page satisfies `ok`, with frames flowing. */
async function waitWidth(page, pid, ok, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  let s;
  while (Date.now() < deadline) {
    s = await cameraStats(page, pid);
    if (s && ok(s.frameWidth)) {
      const before = s.framesDecoded;
      await sleep(1000);
      const again = await cameraStats(page, pid);
      if (ok(again.frameWidth) && again.framesDecoded > before) return again;
    }
    await sleep(500);
  }
  throw new Error(`frameWidth never ${what}: last ${JSON.stringify(s)}`);
}

test('two participants join a meeting from the start page and the pre-join form', async () => {
  alice = await chromiumPage(browser, '/');
  // The start page, used as a person would.
  await alice.getByLabel('Room name').fill(ROOM);
  await alice.getByRole('button', { name: 'Continue' }).click();
  await alice.waitForURL(`**/room/${ROOM}`);
  await alice.getByLabel('Your name').fill('Alice Martin');
  await alice.getByRole('button', { name: 'Join', exact: true }).click();
  await waitFor(alice, () => window.relais.client?.state === 'connected', null, { what: 'Alice joined' });

  // Bob's browser speaks French: the interface follows.
  bob = await chromiumPage(browser, `/room/${ROOM}`, { locale: 'fr-FR' });
  await bob.getByLabel('Votre nom').fill('Bruno Lefèvre');
  await bob.getByRole('button', { name: 'Rejoindre' }).click();
  await waitFor(bob, () => window.relais.client?.state === 'connected', null, { what: 'Bob joined' });
  aliceId = await myId(alice);
  bobId = await myId(bob);
});

test('each decodes the other\'s video and receives audio', async () => {
  const a = await waitDecoding(alice, bobId);
  const b = await waitDecoding(bob, aliceId);
  await waitAudio(alice, bobId);
  await waitAudio(bob, aliceId);
  console.log(`alice decodes bob at ${a.frameWidth}x${a.frameHeight}, bob decodes alice at ${b.frameWidth}x${b.frameHeight}`);
  // Names on tiles, and accessible controls.
  await waitFor(alice, (id) => document.querySelector(`.tile[data-participant="${id}"] .name`)?.textContent === 'Bruno Lefèvre', bobId, { what: 'Bob\'s name on his tile' });
  assert.ok(await alice.getByRole('button', { name: 'Mute microphone' }).isVisible());
  assert.ok(await bob.getByRole('button', { name: 'Couper le micro' }).isVisible());
  await sleep(1500); // let the connection-quality indicators fill in
  await shot(alice, 'meeting-alice');
  await shot(bob, 'meeting-bob-fr');
});

test('a small tile gets a low layer, a large one a high layer, a hidden one no frames', async () => {
  const tile = `.tile[data-participant="${aliceId}"]`;
  // Shrink Alice's tile on Bob's page.
  await bob.evaluate((sel) => {
    const el = document.querySelector(sel);
    Object.assign(el.style, { position: 'fixed', left: '0', top: '60px', width: '160px', height: '90px', minHeight: '0', zIndex: '9' });
  }, tile);
  const small = await waitWidth(bob, aliceId, (w) => w > 0 && w <= 320, '<= 320');
  // Enlarge it.
  await bob.evaluate((sel) => {
    Object.assign(document.querySelector(sel).style, { width: '1280px', height: '720px' });
  }, tile);
  const large = await waitWidth(bob, aliceId, (w) => w > small.frameWidth, `> ${small.frameWidth}`);
  console.log(`small tile: ${small.frameWidth}x${small.frameHeight}, large tile: ${large.frameWidth}x${large.frameHeight}`);
  assert.ok(large.frameWidth >= 2 * small.frameWidth, `large ${large.frameWidth} vs small ${small.frameWidth}`);
  // Hide it: frames stop.
  await bob.evaluate((sel) => { document.querySelector(sel).style.display = 'none'; }, tile);
  await sleep(2000);
  const h1 = await cameraStats(bob, aliceId);
  await sleep(2000);
  const h2 = await cameraStats(bob, aliceId);
  assert.ok(h2.framesDecoded - h1.framesDecoded <= 2, `hidden tile still decodes: ${h1.framesDecoded} -> ${h2.framesDecoded}`);
  // Show it again in the grid: frames come back.
  await bob.evaluate((sel) => { document.querySelector(sel).removeAttribute('style'); }, tile);
  await waitDecoding(bob, aliceId);
});

test('a screen share appears large on the other side', async () => {
  await alice.getByRole('button', { name: 'Share screen' }).click();
  await waitFor(alice, () => !!window.relais.client.localTrack('screen')?.trackId, null, { what: 'Alice publishes a screen' });
  const s = await waitDecoding(bob, aliceId, 'screen');
  console.log(`bob decodes alice's screen at ${s.frameWidth}x${s.frameHeight}`);
  await waitFor(bob, () => document.querySelector('.tile.screen.main video')?.videoWidth > 0, null, { what: 'the screen tile shown large' });
  await sleep(1000);
  await shot(bob, 'meeting-screen-share');
  await alice.getByRole('button', { name: 'Stop sharing' }).click();
  await waitFor(bob, () => !document.querySelector('.tile.screen'), null, { what: 'the screen tile gone' });
});

test('a chat message reaches everyone', async () => {
  await alice.getByRole('button', { name: 'Chat' }).click();
  await alice.getByLabel('Write a message…').fill('Bonjour à tous !');
  await alice.getByRole('button', { name: 'Send' }).click();
  for (const page of [alice, bob]) {
    await waitFor(page, () => [...document.querySelectorAll('#chat-log .text')].some((e) => e.textContent === 'Bonjour à tous !'), null, { what: 'the chat message' });
  }
  // Bob sees an unread badge, opens the chat with the keyboard-reachable button.
  await waitFor(bob, () => document.getElementById('chat-badge').textContent === '1', null, { what: 'unread badge' });
  await bob.getByRole('button', { name: 'Discussion' }).click();
  await shot(bob, 'meeting-chat-fr');
});

test('a participant who leaves disappears from the grid', async () => {
  await bob.getByRole('button', { name: 'Quitter' }).first().click();
  await waitFor(alice, (id) => !document.querySelector(`.tile[data-participant="${id}"]`), bobId, { what: 'Bob\'s tile gone' });
  await waitFor(bob, () => !document.getElementById('message').hidden, null, { what: 'Bob sees he left' });
  await shot(bob, 'meeting-left-fr');
  const left = await remoteStats(alice);
  assert.equal(left.filter((s) => s.participant === bobId).length, 0);
});
