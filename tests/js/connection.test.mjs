// The connection: transport choice, fallback, reconnect backoff and the
// heartbeat, with fake transports and a fake clock.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { WS_OPEN_TIMEOUT_MS, createConnection } from '../../clients/js/connection.js';
import { PING_AFTER_MS } from '../../clients/js/heartbeat.js';
import { forcedTransport, offeredTransports } from '../../clients/js/transport-choice.js';
import { FakeClock, settle } from './fakes.mjs';

/** A transport the test opens, closes and feeds by hand. */
class FakeTransport {
  constructor(name, made) {
    this.name = name;
    this.sent = [];
    this.connected = false;
    this.closed = false;
    made.push(this);
  }

  connect() { this.connected = true; }
  send(frame) { this.sent.push(frame); return true; }
  close() { this.closed = true; }
}

function setUp({ offered = ['websocket', 'polling'], forced = null, remembered = null, answers = true } = {}) {
  const clock = new FakeClock();
  const made = [];
  const log = { states: [], frames: [], closes: [], transports: [], notices: [], refusals: [], opened: 0, remembered: [], probes: 0 };
  const connection = createConnection({
    transports: {
      websocket: () => new FakeTransport('websocket', made),
      polling: () => new FakeTransport('polling', made),
    },
    offered,
    forced,
    remembered,
    remember: (name) => log.remembered.push(name),
    probe: async () => { log.probes += 1; return answers; },
    events: {
      opened: () => { log.opened += 1; },
      frame: (frame) => log.frames.push(frame),
      closed: (info) => log.closes.push(info.code),
      state: (state) => log.states.push(state),
      transport: (name, why) => log.transports.push([name, why]),
      notice: (text) => log.notices.push(text),
      refused: (hint) => log.refusals.push(hint),
    },
    io: { ...clock, random: () => 0 },
  });
  const last = () => made.at(-1);
  const kinds = () => log.states.map((state) => state.kind);
  return { clock, made, log, connection, last, kinds };
}

test('offered transports keep the server\'s order and drop what the page cannot speak', () => {
  assert.deepEqual(offeredTransports('polling, websocket', ['websocket', 'polling']), ['polling', 'websocket']);
  assert.deepEqual(offeredTransports('carrier-pigeon,polling', ['websocket', 'polling']), ['polling']);
  assert.deepEqual(offeredTransports('', ['websocket', 'polling']), ['websocket']);
  assert.deepEqual(offeredTransports(undefined, ['websocket', 'polling']), ['websocket']);
  assert.equal(forcedTransport('polling', ['websocket', 'polling']), 'polling');
  assert.equal(forcedTransport('polling', ['websocket']), null);
  assert.equal(forcedTransport(null, ['websocket']), null);
});

test('it connects with the first offered transport and passes frames both ways', () => {
  const { connection, log, last, kinds } = setUp();
  assert.equal(connection.transportName(), 'websocket');
  connection.connect();
  assert.equal(last().name, 'websocket');
  assert.equal(connection.send({ type: 'ping' }), false, 'nothing is sent before it opens');
  last().onopen();
  assert.deepEqual(kinds(), ['connecting', 'connected']);
  assert.equal(log.opened, 1);
  assert.equal(connection.send({ type: 'say', text: 'hi', ref: 'c1' }), true);
  assert.deepEqual(last().sent, [{ type: 'say', text: 'hi', ref: 'c1' }]);
  last().onframe({ type: 'pong' });
  assert.deepEqual(log.frames, [{ type: 'pong' }]);
});

test('a dropped link reconnects with growing delays, and a welcome resets them', async () => {
  const { clock, connection, log, made, last } = setUp();
  connection.connect();
  last().onopen();
  for (const [attempt, delay] of [[1, 250], [2, 500], [3, 1000]]) {
    last().onclose({ code: 1006, reason: '' });
    const state = log.states.at(-1);
    assert.equal(state.kind, 'reconnecting');
    assert.equal(state.attempt, attempt);
    assert.equal(state.retryAt, clock.now() + delay);
    const before = made.length;
    await clock.advance(delay - 1);
    assert.equal(made.length, before, `not before ${delay} ms`);
    await clock.advance(1);
    assert.equal(made.length, before + 1);
    last().onopen();
  }
  connection.welcomed();
  assert.deepEqual([log.states.at(-1).kind, log.states.at(-1).attempt], ['connected', 0]);
  last().onclose({ code: 1006 });
  assert.equal(log.states.at(-1).retryAt, clock.now() + 250);
  assert.deepEqual(log.closes, [1006, 1006, 1006, 1006]);
});

test('"reconnect now" skips the wait', () => {
  const { connection, made, last } = setUp();
  connection.connect();
  last().onopen();
  last().onclose({ code: 1006 });
  assert.equal(made.length, 1);
  connection.reconnectNow();
  assert.equal(made.length, 2);
  connection.reconnectNow();
  assert.equal(made.length, 2, 'not while a transport is trying');
});

test('a replaced connection goes offline and stays there', async () => {
  const { clock, connection, log, made, last } = setUp();
  connection.connect();
  last().onopen();
  last().onclose({ code: 4001 });
  assert.deepEqual(log.states.at(-1), { kind: 'offline', detail: 'opened elsewhere', attempt: 0, retryAt: 0 });
  await clock.advance(60000);
  connection.browserOnline();
  assert.equal(made.length, 1);
});

test('a WebSocket that never opens, on a server that answers HTTP, hands over to polling', async () => {
  const { connection, log, last } = setUp();
  connection.connect();
  last().onclose({ code: 1006 });
  await settle();
  assert.equal(log.probes, 1);
  assert.equal(connection.transportName(), 'polling');
  assert.equal(last().name, 'polling');
  assert.deepEqual(log.remembered, ['polling']);
  assert.deepEqual(log.transports, [['polling', 'WebSocket could not connect']]);
  assert.deepEqual(log.notices, [], 'no notice when WebSocket never worked');
});

test('when the server does not answer HTTP either, WebSocket is kept', async () => {
  const { connection, log, last } = setUp({ answers: false });
  connection.connect();
  last().onclose({ code: 1006 });
  await settle();
  assert.equal(log.probes, 1);
  assert.equal(connection.transportName(), 'websocket');
  assert.deepEqual(log.remembered, []);
});

test('an upgrade held unanswered for 4 s counts as a failure', async () => {
  const { clock, connection, made, last } = setUp();
  connection.connect();
  const ws = last();
  await clock.advance(WS_OPEN_TIMEOUT_MS - 1);
  assert.equal(ws.closed, false);
  await clock.advance(1);
  assert.equal(ws.closed, true);
  await settle();
  assert.deepEqual(made.map((t) => t.name), ['websocket', 'polling']);
});

test('once WebSocket has worked, three failed opens in a row are needed', async () => {
  const { clock, connection, log, made, last } = setUp();
  connection.connect();
  last().onopen();
  last().onclose({ code: 1006 }); // a drop after it worked: not a failed open
  for (let failure = 1; failure <= 3; failure += 1) {
    await clock.advance(log.states.at(-1).retryAt - clock.now());
    assert.equal(last().name, 'websocket', `attempt ${failure}`);
    last().onclose({ code: 1006 });
    await settle();
  }
  assert.equal(connection.transportName(), 'polling');
  assert.deepEqual(made.map((t) => t.name), ['websocket', 'websocket', 'websocket', 'websocket', 'polling']);
  assert.equal(log.probes, 3);
  assert.deepEqual(log.transports, [['polling', 'WebSocket failed 3 times in a row']]);
  assert.deepEqual(log.notices, ['WebSocket keeps failing here; switching to long-polling.']);
  assert.equal(log.states.at(-1).attempt, 0, 'polling starts without backoff');
});

test('an open in between starts the count of failed opens again', async () => {
  const { clock, connection, log, last } = setUp();
  connection.connect();
  last().onopen();
  for (const opens of [false, false, true, false, false]) {
    last().onclose({ code: 1006 });
    await settle();
    await clock.advance(log.states.at(-1).retryAt - clock.now());
    if (opens) last().onopen();
  }
  last().onclose({ code: 1006 });
  await settle();
  assert.equal(connection.transportName(), 'websocket');
});

test('a forced transport, or a server without polling, never falls back', async () => {
  for (const options of [{ forced: 'websocket' }, { offered: ['websocket'] }]) {
    const { connection, log, last, kinds } = setUp(options);
    connection.connect();
    last().onclose({ code: 1006 });
    await settle();
    assert.equal(log.probes, 1, 'asked only whether the page is refused');
    assert.equal(connection.transportName(), 'websocket');
    assert.equal(kinds().at(-1), 'reconnecting');
  }
});

test('a page the server refuses stops and shows the hint, whether the probe or a poll says so', async () => {
  const hint = 'the page\'s origin is http://proxy but the request reached Parley for host upstream';
  for (const options of [{ forced: 'websocket' }, {}]) {
    const { connection, log, last, kinds, clock, made } = setUp({ ...options, answers: { answers: true, refused: hint } });
    connection.connect();
    last().onclose({ code: 1006 });
    await settle();
    assert.deepEqual(log.refusals, [hint]);
    const { kind, detail } = log.states.at(-1);
    assert.deepEqual([kind, detail], ['offline', 'refused by the server']);
    await clock.advance(60000);
    assert.equal(made.length, 1, 'no retry into the same refusal');
    assert.equal(kinds().at(-1), 'offline');
  }
  // Over polling, the refusal comes as a close.
  const { connection, log, last, made } = setUp({ forced: 'polling' });
  connection.connect();
  last().onclose({ code: 4030, reason: hint });
  await settle();
  assert.deepEqual(log.refusals, [hint]);
  assert.equal(made.length, 1);
  // Join (the page's "reconnect now") tries again.
  connection.reconnectNow();
  assert.equal(made.length, 2);
});

test('a tab that fell back before starts on polling and says why', () => {
  const { connection, last } = setUp({ remembered: 'polling' });
  assert.equal(connection.fallbackReason(), 'WebSocket failed earlier in this tab');
  connection.connect();
  assert.equal(last().name, 'polling');
  const forced = setUp({ remembered: 'polling', forced: 'websocket' });
  assert.equal(forced.connection.transportName(), 'websocket');
  assert.equal(forced.connection.fallbackReason(), '');
});

test('with no transport it can speak, it is offline at once', () => {
  const { connection, log, made } = setUp({ offered: [] });
  connection.connect();
  assert.deepEqual(made, []);
  assert.deepEqual(log.states, [{ kind: 'offline', detail: 'no transport this page speaks', attempt: 0, retryAt: 0 }]);
});

test('a quiet link is pinged, and dropped when nothing answers', async () => {
  const { clock, connection, log, last } = setUp();
  connection.connect();
  const link = last();
  link.onopen();
  await clock.advance(PING_AFTER_MS);
  assert.deepEqual(link.sent, []);
  await clock.advance(5000);
  assert.deepEqual(link.sent, [{ type: 'ping' }]);
  link.onframe({ type: 'pong' });
  await clock.advance(20000);
  assert.equal(link.sent.length, 1, 'a pong is a sign of life');
  await clock.advance(10000);
  assert.equal(link.sent.length, 2);
  await clock.advance(10000);
  assert.equal(link.closed, false, 'exactly 10 s without an answer is not yet too long');
  await clock.advance(5000);
  assert.equal(link.closed, true);
  assert.deepEqual(log.closes, [1006]);
  assert.equal(log.states.at(-1).kind, 'reconnecting');
});

test('leaving closes the link for good', async () => {
  const { clock, connection, log, made, last } = setUp();
  connection.connect();
  last().onopen();
  connection.leave();
  assert.equal(last().closed, true);
  assert.equal(log.states.at(-1).kind, 'offline');
  await clock.advance(60000);
  assert.equal(made.length, 1);
  connection.reconnectNow();
  assert.equal(made.length, 2, 'back from the back/forward cache');
});

test('callbacks of a replaced transport are ignored', async () => {
  const { connection, log, last } = setUp();
  connection.connect();
  const ws = last();
  ws.onclose({ code: 1006 });
  await settle();
  assert.equal(last().name, 'polling');
  ws.onopen();
  ws.onframe({ type: 'message' });
  ws.onclose({ code: 1006 });
  assert.equal(log.opened, 0);
  assert.deepEqual(log.frames, []);
  assert.deepEqual(log.closes, [1006]);
});
