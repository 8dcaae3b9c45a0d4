// Access refused, in Chromium, against a relais of this file's own that has a
// token secret and rooms of one: an expired invitation link and a full room
// each get their own message, and the client does not keep retrying.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { launchChromium, waitFor, sleep, shot } from './helpers.mjs';

const BIN = process.env.RELAIS_BIN;
const SECRET = 'access-test-secret-5b0e2d61c7a94f38';
const ROOM = `access-${Date.now().toString(36)}`;
let browser;
let server;
let base;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function mint(identity, ttlSecs) {
  return execFileSync(BIN, ['token', '--secret', SECRET, '--room', ROOM, '--identity', identity,
    '--ttl-secs', String(ttlSecs)]).toString().trim();
}

before(async () => {
  assert.ok(BIN, 'RELAIS_BIN names the relais binary (scripts/test-browsers sets it)');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--media-port', '0', '--secret', SECRET,
    '--max-participants', '1'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i += 1) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function page() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  return context.newPage();
}

async function join(p, token, name) {
  await p.goto(`${base}/room/${ROOM}?token=${encodeURIComponent(token)}`);
  await p.getByLabel('Your name').fill(name);
  await p.getByRole('button', { name: 'Join', exact: true }).click();
}

/** Count the join messages a page sends on its WebSockets. */
function countJoins(p) {
  const joins = { n: 0 };
  p.on('websocket', (ws) => ws.on('framesent', (f) => {
    if (typeof f.payload === 'string' && f.payload.includes('"type":"join"')) joins.n += 1;
  }));
  return joins;
}

test('an expired invitation link says so and is not retried', async () => {
  const token = mint('late', 0);
  await sleep(6500); // past the server's 5 s leeway
  const p = await page();
  const joins = countJoins(p);
  await join(p, token, 'Late Laura');
  await waitFor(p, () => !document.getElementById('message').hidden, null, { what: 'the message view' });
  assert.match(await p.textContent('#message-text'), /not valid or has expired/);
  await shot(p, 'error-expired-link');
  await sleep(3000);
  assert.equal(joins.n, 1, 'one join, no retries');
});

test('a full room says so, and the one inside stays', async () => {
  const first = await page();
  await join(first, mint('first', 600), 'First Fred');
  await waitFor(first, () => window.relais.client?.state === 'connected'
    && !document.getElementById('call').hidden, null, { what: 'the first in the room' });
  const second = await page();
  const joins = countJoins(second);
  await join(second, mint('second', 600), 'Second Sam');
  await waitFor(second, () => !document.getElementById('message').hidden, null, { what: 'the message view' });
  assert.match(await second.textContent('#message-text'), /This room is full/);
  await shot(second, 'error-room-full');
  await sleep(3000);
  assert.equal(joins.n, 1, 'one join, no retries');
  assert.ok(await first.evaluate(() => document.getElementById('message').hidden), 'the first is still in');
});
