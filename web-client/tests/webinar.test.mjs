// A webinar in Chromium: a host, a presenter and three attendees. Attendees
// decode the presenter and have no publish controls; a forced publish is
// refused and the refusal shown; an attendee raises a hand, the host puts it
// on stage, and the others then decode its camera.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchChromium, chromiumPage, waitDecoding, waitAudio, waitFor, myId, shot, sleep,
} from './helpers.mjs';

const ROOM = `webinar-${Date.now().toString(36)}`;
let browser;
let host;
let presenter;
const attendees = [];
let presenterId;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

async function join(page, name, { camera = true } = {}) {
  await page.getByLabel('Your name').fill(name);
  if (!camera) await page.getByRole('button', { name: 'Turn camera off' }).click();
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitFor(page, () => window.relais.client?.state === 'connected', null, { what: `${name} joined` });
}

test('host, presenter and three attendees join a webinar', async () => {
  // The host creates the webinar from the start page.
  host = await chromiumPage(browser, '/');
  await host.getByLabel('Room name').fill(ROOM);
  await host.getByText('Webinar', { exact: true }).click();
  await host.getByRole('button', { name: 'Continue' }).click();
  await host.waitForURL(`**/room/${ROOM}?mode=webinar&role=host`);
  await join(host, 'Hélène Host', { camera: false });
  assert.equal(await host.evaluate(() => window.relais.client.me.role), 'host');

  // The invitation links the host hands out.
  await host.getByRole('button', { name: 'Invitation links' }).click();
  // The links arrive from POST /api/invites: wait until they are filled in.
  await host.waitForFunction(
    () => document.getElementById('invite-presenter').value !== ''
      && document.getElementById('invite-attendee').value !== '',
    null,
    { timeout: 10000 },
  );
  const links = await host.evaluate(() => ({
    presenter: document.getElementById('invite-presenter').value,
    attendee: document.getElementById('invite-attendee').value,
  }));
  assert.match(links.presenter, /role=presenter/);
  assert.match(links.attendee, /role=attendee/);
  await host.getByRole('button', { name: 'Close' }).click();

  presenter = await chromiumPage(browser, new URL(links.presenter).pathname + new URL(links.presenter).search);
  await join(presenter, 'Paul Presenter');
  presenterId = await myId(presenter);
  for (const n of ['Ada', 'Bo', 'Chloé']) {
    const page = await chromiumPage(browser, new URL(links.attendee).pathname + new URL(links.attendee).search);
    // Attendees see no device choice before joining.
    assert.equal(await page.evaluate(() => document.getElementById('device-fields').hidden), true);
    await join(page, `${n} Attendee`);
    attendees.push(page);
  }
});

test('attendees decode the presenter and have no publish controls', async () => {
  for (const page of attendees) {
    await waitDecoding(page, presenterId);
    await waitAudio(page, presenterId);
    for (const id of ['btn-mic', 'btn-cam', 'btn-screen']) {
      assert.equal(await page.evaluate((x) => document.getElementById(x).hidden, id), true, `${id} hidden`);
    }
    assert.ok(await page.getByRole('button', { name: 'Raise hand' }).isVisible());
    // Attendees are not on stage.
    assert.equal(await page.evaluate(() => document.querySelectorAll('.tile.local').length), 0);
  }
  await waitDecoding(host, presenterId);
  await sleep(1000);
  await shot(attendees[0], 'webinar-attendee');
});

test('a forced publish by an attendee is refused and the refusal shown', async () => {
  const page = attendees[2];
  await page.evaluate(() => window.relais.startCamera());
  const text = await waitFor(page, () => {
    const b = document.getElementById('banner');
    return !b.hidden && b.classList.contains('error') && b.textContent;
  }, null, { what: 'the refusal shown' });
  console.log(`refusal shown: ${text}`);
  assert.match(text, /not allowed|attendee|forbidden/i);
  assert.equal(await page.evaluate(() => window.relais.client.local.length), 0);
});

test('an attendee raises a hand, the host puts it on stage, everyone decodes its camera', async () => {
  const ada = attendees[0];
  const adaId = await myId(ada);
  await ada.getByRole('button', { name: 'Raise hand' }).click();
  await host.getByRole('button', { name: 'Participants' }).click();
  const promote = host.locator('#hands-list').getByRole('button', { name: 'Invite on stage: Ada Attendee' });
  await promote.waitFor({ timeout: 10_000 });
  await sleep(500);
  await shot(host, 'webinar-host-hands');
  await promote.click();
  await waitFor(ada, () => window.relais.client.me.role === 'presenter', null, { what: 'Ada promoted' });
  await waitFor(ada, () => !document.getElementById('btn-cam').hidden, null, { what: 'Ada gets publish controls' });
  for (const page of [host, presenter, attendees[1], attendees[2]]) {
    await waitDecoding(page, adaId);
  }
  await sleep(1500);
  await shot(attendees[1], 'webinar-attendee-two-presenters');
  await shot(host, 'webinar-host');
});
