// Bad input and bad networks in Chromium: an unknown room link, a server that
// cannot be reached, a denied camera, and a signaling connection that drops
// in the middle of a call (the client says so and reconnects by itself).

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, launchChromium, chromiumPage, joinFromForm, waitDecoding, waitFor, myId, shot,
} from './helpers.mjs';

const ROOM = `resilience-${Date.now().toString(36)}`;
let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

async function freshPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  return context.newPage();
}

test('an unknown room link shows a message and a way home', async () => {
  const page = await freshPage();
  await page.goto(`${BASE}/room/not%20a%20room!`);
  await waitFor(page, () => !document.getElementById('message').hidden, null, { what: 'the message view' });
  assert.match(await page.textContent('#message-text'), /does not point to a room/);
  assert.ok(await page.getByRole('link', { name: 'Home' }).isVisible());
});

test('a server that cannot be reached shows a message and a retry', async () => {
  const page = await freshPage();
  await page.routeWebSocket(/\/ws$/, (ws) => ws.close());
  await page.goto(`${BASE}/room/${ROOM}-down`);
  await joinAttempt(page, 'Nobody');
  await waitFor(page, () => !document.getElementById('message').hidden, null, { what: 'the message view' });
  assert.match(await page.textContent('#message-text'), /Cannot reach the Relais server/);
  assert.ok(await page.getByRole('button', { name: 'Try again' }).isVisible());
  await shot(page, 'error-server-down');
});

async function joinAttempt(page, name) {
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
}

test('a denied camera still joins, receive-only, with a clear message', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  await context.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  });
  const page = await context.newPage();
  await page.goto(`${BASE}/room/${ROOM}-denied`);
  await waitFor(page, () => !document.getElementById('prejoin-notice').hidden, null, { what: 'the no-camera notice' });
  await shot(page, 'prejoin-denied-camera');
  await joinAttempt(page, 'Denied Dana');
  await waitFor(page, () => window.relais.client?.state === 'connected', null, { what: 'joined receive-only' });
  assert.equal(await page.evaluate(() => window.relais.client.local.length), 0);
});

test('a dropped connection is announced and the call resumes by itself', async () => {
  const sockets = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  await page.routeWebSocket(/\/ws$/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await page.goto(`${BASE}/room/${ROOM}`);
  await joinFromForm(page, 'Roaming Rita');
  const other = await chromiumPage(browser, `/room/${ROOM}`);
  await joinFromForm(other, 'Steady Sam');
  const firstId = await myId(page);
  const otherId = await myId(other);
  await waitDecoding(page, otherId);
  await waitDecoding(other, firstId);

  // The network drops the signaling socket.
  await sockets[0].close();
  await waitFor(page, () => window.relais.client.state === 'reconnecting'
    && !document.getElementById('banner').hidden, null, { what: 'the reconnecting banner', timeout: 10_000 });
  await waitFor(page, () => window.relais.client.state === 'connected', null, { what: 'reconnected', timeout: 20_000 });
  const secondId = await myId(page);
  assert.notEqual(secondId, firstId);
  // Media flows again both ways, the camera republished. (Sam may have
  // rejoined too: see docs/web-client.md, "Known server problem".)
  const samNow = await waitFor(page, () => [...window.relais.client.participants.values()]
    .find((p) => p.name === 'Steady Sam')?.id, null, { what: 'Sam in the room' });
  await waitFor(other, () => window.relais.client.state === 'connected', null, { what: 'Sam connected' });
  await waitDecoding(page, samNow);
  await waitDecoding(other, secondId);
  await waitFor(other, (id) => !document.querySelector(`.tile[data-participant="${id}"]`), firstId, { what: 'the old tile gone' });
});
