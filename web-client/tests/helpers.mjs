// Shared helpers of the browser tests: launching Debian's Chromium
// (playwright-core) and Firefox ESR (puppeteer-core over WebDriver BiDi),
// opening participants, reading getStats() from the page, bounded waits.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

export const BASE = process.env.RELAIS_URL || 'http://127.0.0.1:8080';
const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = process.env.RELAIS_ARTIFACTS || join(here, '..', '..', 'test-artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--allow-loopback-in-peer-connection',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-renderer-backgrounding', '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
];

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

export function launchFirefox() {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    protocol: 'webDriverBiDi',
    timeout: 60_000,
    extraPrefsFirefox: {
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'media.peerconnection.ice.default_address_only': false,
      'media.peerconnection.ice.link_local': true,
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      'media.autoplay.blocking_policy': 0,
    },
  });
}

/** A Chromium participant in its own context (its own storage and devices). */
export async function chromiumPage(browser, path, { locale = 'en-US' } = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale,
    permissions: ['camera', 'microphone'],
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(`${BASE}${path}`);
  return page;
}

export async function firefoxPage(browser, path) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.on('pageerror', (e) => console.log(`[firefox page error] ${e.message}`));
  await page.goto(`${BASE}${path}`);
  return page;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `fn(arg)` in the page until it returns a truthy value; return it.
 * Works with playwright and puppeteer pages (both have evaluate(fn, arg)).
 */
export async function waitFor(page, fn, arg, { timeout = 20_000, interval = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg);
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** Fill the pre-join form by its fields and press Join (any page kind). */
export async function joinFromForm(page, name) {
  await waitFor(page, () => !document.getElementById('prejoin').hidden, null, { what: 'the pre-join form' });
  await page.evaluate((n) => {
    const input = document.getElementById('prejoin-name');
    input.value = n;
    document.getElementById('join-button').click();
  }, name);
  await waitFor(page, () => window.relais.client?.state === 'connected'
    && !document.getElementById('call').hidden, null, { what: `${name} in the room` });
}

/** getStats() of every remote track this page receives. */
export function remoteStats(page) {
  return page.evaluate(async () => {
    const c = window.relais.client;
    const out = [];
    for (const tr of c.tracks.values()) {
      if (!tr.receiver) continue;
      const s = await c.trackStats(tr.id);
      out.push({ id: tr.id, participant: tr.participant_id, source: tr.source, kind: tr.kind, ...(s || {}) });
    }
    return out;
  });
}

/** Wait until this page decodes video of `pid` (source camera|screen) with framesDecoded rising. */
export async function waitDecoding(page, pid, source = 'camera', timeout = 25_000) {
  const deadline = Date.now() + timeout;
  let first = null;
  let last = [];
  while (Date.now() < deadline) {
    last = await remoteStats(page);
    const s = last.find((x) => x.participant === pid && x.source === source && x.kind === 'video');
    if (s && s.framesDecoded > 0) {
      if (!first) first = s;
      else if (s.framesDecoded > first.framesDecoded + 5) return s;
    }
    await sleep(500);
  }
  throw new Error(`no rising framesDecoded for ${pid}/${source}: ${JSON.stringify(last)}`);
}

/** Wait until this page receives audio of `pid` (packets rising). */
export async function waitAudio(page, pid, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let first = null;
  let last = [];
  while (Date.now() < deadline) {
    last = await remoteStats(page);
    const s = last.find((x) => x.participant === pid && x.kind === 'audio');
    if (s && s.packetsReceived > 0) {
      if (!first) first = s;
      else if (s.packetsReceived > first.packetsReceived + 10) return s;
    }
    await sleep(500);
  }
  throw new Error(`no rising audio packets from ${pid}: ${JSON.stringify(last)}`);
}

export function myId(page) {
  return page.evaluate(() => window.relais.client.me.id);
}

/**
 * The viewer on `page` asks for a quality of a participant's camera, with the
 * adaptive stream (which follows the tile's size) out of the way. Returns the track id.
 */
export function askCameraQuality(page, participantId, quality) {
  return page.evaluate(({ participantId, quality }) => {
    const app = window.relais;
    const cam = [...app.client.tracks.values()].find((t) => t.participant_id === participantId && t.source === 'camera');
    const video = document.querySelector(`.tile[data-participant="${participantId}"] video`);
    if (video) app.adaptive.unobserve(video);
    app.client.subscribe(cam.id, { quality });
    return cam.id;
  }, { participantId, quality });
}

export function shot(page, name) {
  return page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}
