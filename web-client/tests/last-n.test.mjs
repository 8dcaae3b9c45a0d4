// Last-N in Chromium: in a room made with last-N 1, a third participant
// receives one of the two other cameras; the other tile shows the avatar and
// decodes nothing. Pinning that camera brings its video back.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchChromium, chromiumPage, joinFromForm, waitFor, remoteStats, myId, shot, sleep,
} from './helpers.mjs';

const ROOM = `last-n-${Date.now().toString(36)}`;
let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** framesDecoded of a remote track on a page (0 when none). */
async function frames(page, trackId) {
  const s = (await remoteStats(page)).find((x) => x.id === trackId);
  return s?.framesDecoded ?? 0;
}

test('a camera outside last-N shows the avatar, and pinning it brings the video back', async () => {
  const alice = await chromiumPage(browser, `/room/${ROOM}?last_n=1`);
  await joinFromForm(alice, 'Alice');
  const bob = await chromiumPage(browser, `/room/${ROOM}`);
  await joinFromForm(bob, 'Bob');
  const carol = await chromiumPage(browser, `/room/${ROOM}`);
  await joinFromForm(carol, 'Carol');
  const ids = [await myId(alice), await myId(bob)];

  // One of the two cameras is held back from Carol, and its tile says so.
  const paused = await waitFor(carol, (ids) => {
    const c = window.relais.client;
    const cams = [...c.tracks.values()].filter((t) => ids.includes(t.participant_id) && t.source === 'camera');
    if (cams.length !== 2 || c.lastNPaused.size !== 1) return null;
    const held = cams.find((t) => c.isLastNPaused(t.id));
    const tile = document.querySelector(`.tile[data-participant="${held.participant_id}"]`);
    const avatar = tile && getComputedStyle(tile.querySelector('.avatar')).display !== 'none';
    return tile?.classList.contains('last-n') && avatar ? held.id : null;
  }, ids, { timeout: 30_000, what: 'one camera held back by last-N, with its avatar shown' });
  await sleep(1500);
  const before = await frames(carol, paused);
  await sleep(2000);
  const still = await carol.evaluate((id) => window.relais.client.isLastNPaused(id), paused);
  if (still) assert.ok(await frames(carol, paused) - before <= 2, 'a held-back camera decodes nothing');
  await shot(carol, 'last-n-avatar');

  // Carol pins it: never held back again, and its frames flow.
  await carol.evaluate((id) => window.relais.client.pin(id, true), paused);
  await waitFor(carol, (id) => !window.relais.client.isLastNPaused(id)
    && !document.querySelector(`.tile[data-track="${id}"]`)?.classList.contains('last-n'), paused,
  { timeout: 10_000, what: 'the pinned camera out of the last-N list' });
  const start = await frames(carol, paused);
  await waitFor(carol, async ({ id, start }) => {
    const s = await window.relais.client.trackStats(id);
    return s && s.framesDecoded > start + 10;
  }, { id: paused, start }, { timeout: 15_000, what: 'frames of the pinned camera' });
  await shot(carol, 'last-n-pinned');
});
