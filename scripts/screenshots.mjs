// The README's screenshots, taken from the real server and a real
// Chromium: a room where bob and cy talked yesterday (the server runs
// under faketime for that part, so its messages carry yesterday's time)
// and talk again today, with ann reading in the browser: groups, a date
// line, a link and a mention of ann. Desktop (1280×800) and phone
// (390×844), light and dark.
//
//   cargo build && node --experimental-websocket scripts/screenshots.mjs [OUT_DIR]
//
// Needs chromium and libfaketime (apt-get install chromium faketime). The
// binary is $PARLEY_BIN, else $CARGO_TARGET_DIR/debug/parley, else
// target/debug/parley. Writes OUT_DIR/{desktop,phone}-{light,dark}.png
// (default docs/screenshots/). Chromium is driven over the DevTools
// protocol; the other people are the client library in Node.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ParleyClient } from '../clients/js/parley-client.js';

const out = process.argv[2] || 'docs/screenshots';
const bin = process.env.PARLEY_BIN
  || join(process.env.CARGO_TARGET_DIR || 'target', 'debug', 'parley');
const ROOM = 'design';
const FAKETIME_LIB = process.env.FAKETIME_LIB || '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Polls `probe` until it returns something truthy (bounded). */
async function until(what, probe, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await wait(100);
  }
}

function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The server on `port` and `data`; under faketime starting at `at` when given. */
async function startServer(port, data, at) {
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--data-dir', data];
  // libfaketime preloaded into the server itself (the faketime command
  // would stand between it and our signals), its clock starting at `at`.
  const env = at
    ? {
      ...process.env, LD_PRELOAD: FAKETIME_LIB, FAKETIME: `@${at}`, FAKETIME_DONT_FAKE_MONOTONIC: '1',
    }
    : process.env;
  const child = spawn(bin, args, { stdio: 'ignore', env });
  child.once('exit', (code) => { child.exited = code ?? 'signal'; });
  await until('the server', async () => {
    if (child.exited !== undefined) throw new Error(`the server exited (${child.exited})`);
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch (_) {
      return false;
    }
  });
  return child;
}

async function stopServer(child) {
  if (child.exited !== undefined) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function person(port, nick) {
  const client = new ParleyClient({ url: `http://127.0.0.1:${port}/`, transport: 'websocket', storage: null });
  if (process.env.DEBUG) {
    client.on('frame', (f) => console.error(nick, JSON.stringify(f).slice(0, 160)));
    client.on('close', (f) => console.error(nick, 'close', JSON.stringify(f)));
  }
  client.connect();
  await client.join({ nick, room: ROOM });
  return client;
}

/** A minimal DevTools protocol client over the page's WebSocket. */
async function devtools(debugPort) {
  const targets = await until('chromium', async () => {
    try {
      return await (await fetch(`http://127.0.0.1:${debugPort}/json/list`)).json();
    } catch (_) {
      return null;
    }
  });
  const page = targets.find((t) => t.type === 'page');
  if (!page) throw new Error('Chromium shows no page');
  const socket = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', () => reject(new Error('cannot reach Chromium\'s DevTools')), { once: true });
  });
  let next = 0;
  const waiting = new Map();
  socket.addEventListener('message', (event) => {
    const reply = JSON.parse(event.data);
    const settle = waiting.get(reply.id);
    if (!settle) return;
    waiting.delete(reply.id);
    if (reply.error) settle.reject(new Error(JSON.stringify(reply.error)));
    else settle.resolve(reply.result);
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    next += 1;
    waiting.set(next, { resolve, reject });
    socket.send(JSON.stringify({ id: next, method, params }));
  });
  const evaluate = async (expression) => (await send('Runtime.evaluate', {
    expression, awaitPromise: true, returnByValue: true,
  })).result.value;
  return { send, evaluate, close: () => socket.close() };
}

const yesterdayAt = (h, m) => {
  const d = new Date();
  d.setDate(d.getDate() - 1);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(h)}:${two(m)}:00`;
};

async function main() {
  mkdirSync(out, { recursive: true });
  const data = mkdtempSync(join(tmpdir(), 'parley-shots-'));
  const port = await freePort();
  const debugPort = await freePort();
  const profile = mkdtempSync(join(tmpdir(), 'parley-shots-profile-'));

  // Yesterday evening.
  let server = await startServer(port, data, yesterdayAt(18, 40));
  let bob = await person(port, 'bob');
  let cy = await person(port, 'cy');
  await cy.say('Has anyone tried the new build on a phone?');
  await bob.say('Yes, on mine: the roster folds behind a button now.');
  await bob.say('Scrolling is smooth, too.');
  await cy.say('Great, thanks! I will write it up tomorrow.');
  for (const c of [bob, cy]) c.close();
  await stopServer(server);

  // Today: the others come back, and ann opens the room in the browser.
  server = await startServer(port, data);
  const chromium = spawn('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--hide-scrollbars', `--user-data-dir=${profile}`, `--remote-debugging-port=${debugPort}`, '--remote-allow-origins=*',
    'about:blank',
  ], { stdio: 'ignore' });
  try {
    // The others are back first, so ann's page opens on them all.
    bob = await person(port, 'bob');
    cy = await person(port, 'cy');
    const dee = await person(port, 'dee');
    const page = await devtools(debugPort);
    await page.send('Emulation.setDeviceMetricsOverride', {
      width: 1280, height: 800, deviceScaleFactor: 1, mobile: false,
    });
    await page.send('Page.navigate', { url: `http://127.0.0.1:${port}/#${ROOM}` });
    // Connected: the page's script is running and handles the form.
    await until('the page to connect', () => page.evaluate(
      "document.getElementById('conn-state')?.dataset.state === 'connected'",
    ));
    await page.evaluate(`(() => {
      document.getElementById('nick-input').value = 'ann';
      document.getElementById('nick-form').requestSubmit();
    })()`);
    await until('the chat', () => page.evaluate("document.body.dataset.view === 'chat'"));
    await bob.say('Morning! The write-up is here: https://example.com/notes/phone-build');
    await cy.say('Thanks bob, reading it now.');
    await cy.say('The screenshots in section 2 look off in dark mode, though.');
    await dee.say('@ann could you take a look at the contrast there?');
    await until('the last message', () => page.evaluate(
      "[...document.querySelectorAll('#messages .text')].some((t) => t.textContent.startsWith('@ann'))",
    ));
    await page.evaluate(`(() => {
      const box = document.getElementById('message-input');
      box.value = 'Sure, on it.';
      box.dispatchEvent(new InputEvent('input'));
      box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
    })()`);
    await until('ann\'s message', () => page.evaluate(
      "!document.querySelector('#messages li.pending') && [...document.querySelectorAll('#messages .text')].some((t) => t.textContent === 'Sure, on it.')",
    ));
    // cy starts typing, for the typing line.
    cy.typing(true);
    await until('the typing line', () => page.evaluate("document.getElementById('typing').textContent !== ''"));

    for (const [name, width, height, mobile] of [['desktop', 1280, 800, false], ['phone', 390, 844, true]]) {
      await page.send('Emulation.setDeviceMetricsOverride', {
        width, height, deviceScaleFactor: 1, mobile,
      });
      for (const scheme of ['light', 'dark']) {
        await page.send('Emulation.setEmulatedMedia', {
          features: [{ name: 'prefers-color-scheme', value: scheme }],
        });
        await page.evaluate("document.getElementById('messages').scrollTop = 1e9; document.activeElement.blur(); true");
        await wait(200); // a frame or two for the layout to settle
        const { data: png } = await page.send('Page.captureScreenshot', { format: 'png' });
        const file = join(out, `${name}-${scheme}.png`);
        writeFileSync(file, Buffer.from(png, 'base64'));
        console.log(file);
      }
    }
    page.close();
    for (const c of [bob, cy, dee]) c.close();
  } finally {
    chromium.kill('SIGTERM');
    await stopServer(server);
    rmSync(data, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
