// The long-polling transport against a fake server and a fake clock.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  MAX_FRAMES_PER_SEND, POLL_SEND_BUDGET, PollingTransport, idleCutWait, packFrames,
} from '../../clients/js/transport/polling.js';
import { FakeClock, FakeServer, settle } from './fakes.mjs';

const JOIN = { type: 'join', v: 1, nick: 'ann', room: 'lobby' };
const WELCOME = { type: 'welcome', nick: 'ann', room: 'lobby', limits: { max_frame_bytes: 8192 } };

/** A transport on a fake server and clock, recording what it reports. */
function setUp(prefix = '') {
  const clock = new FakeClock();
  const server = new FakeServer();
  const transport = new PollingTransport(prefix, {
    fetch: server.fetch, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: clock.now,
  });
  const seen = { opened: 0, frames: [], closes: [] };
  transport.onopen = () => { seen.opened += 1; };
  transport.onframe = (frame) => { seen.frames.push(frame); };
  transport.onclose = (info) => { seen.closes.push(info); };
  return { clock, server, transport, seen };
}

/** Opens a session 'tok' whose first batch is `frames` at `cursor`. */
async function open(setup, { cursor = 1, frames = [WELCOME] } = {}) {
  setup.transport.connect();
  await setup.clock.advance(0);
  assert.equal(setup.transport.send(JOIN), true);
  setup.server.take('POST', `${setup.transport.prefix}/poll/open`).answer(200, { session: 'tok', cursor, frames });
  await settle();
}

test('it opens at once and asks nothing of the server before the join', async () => {
  const { clock, server, transport, seen } = setUp();
  transport.connect();
  assert.equal(seen.opened, 0);
  await clock.advance(0);
  assert.equal(seen.opened, 1);
  assert.equal(server.requests.length, 0);
  assert.equal(transport.send({ type: 'say', text: 'hi', ref: 'c1' }), false);
  // The heartbeat's ping is answered here: there is no link to probe yet.
  assert.equal(transport.send({ type: 'ping' }), true);
  await clock.advance(0);
  assert.deepEqual(seen.frames, [{ type: 'pong' }]);
  assert.equal(server.requests.length, 0);
});

test('the join opens a session, then it polls with the batch\'s cursor and the token', async () => {
  const setup = setUp('/chat');
  const { server, transport, seen } = setup;
  setup.transport.connect();
  await setup.clock.advance(0);
  transport.send(JOIN);
  const opening = server.take('POST', '/chat/poll/open');
  assert.deepEqual(JSON.parse(opening.body), JOIN);
  assert.equal(opening.headers['Content-Type'], 'text/plain;charset=UTF-8');
  assert.equal(opening.headers['Parley-Session'], undefined);
  opening.answer(200, { session: 'tok', cursor: 7, frames: [WELCOME] });
  await settle();
  assert.deepEqual(seen.frames, [WELCOME]);
  assert.equal(transport.sendBudget, 8192, 'the welcome\'s max_frame_bytes');
  const poll = server.take('GET', '/chat/poll?cursor=7');
  assert.equal(poll.headers['Parley-Session'], 'tok');
});

test('each answer\'s frames go to the page in order and the next poll asks from its cursor', async () => {
  const setup = setUp();
  const { clock, server, seen } = setup;
  await open(setup, { cursor: 1 });
  const m2 = { type: 'message', id: 2, nick: 'bob', text: 'hi' };
  const m3 = { type: 'message', id: 3, nick: 'bob', text: 'there' };
  server.take('GET', '/poll?cursor=1').answer(200, { cursor: 3, frames: [m2, null, { no: 'type' }, m3] });
  await settle();
  assert.deepEqual(seen.frames.slice(1), [m2, m3], 'frames without a type are skipped');
  // Polls start at least 200 ms apart.
  assert.equal(server.waiting.length, 0);
  await clock.advance(199);
  assert.equal(server.waiting.length, 0);
  await clock.advance(1);
  server.take('GET', '/poll?cursor=3').answer(200, { cursor: 3, frames: [] });
  await clock.advance(200);
  server.take('GET', '/poll?cursor=3');
  assert.deepEqual(seen.closes, []);
});

test('sends go one request at a time, and frames queued meanwhile travel together', async () => {
  const setup = setUp();
  const { server, transport } = setup;
  await open(setup);
  const a = { type: 'say', text: 'a', ref: 'c1' };
  const b = { type: 'typing', on: false };
  const c = { type: 'say', text: 'c', ref: 'c2' };
  assert.equal(transport.send(a), true);
  const first = server.take('POST', '/poll/send');
  assert.equal(first.headers['Parley-Session'], 'tok');
  assert.deepEqual(JSON.parse(first.body), a);
  transport.send(b);
  transport.send(c);
  await settle();
  assert.equal(server.waiting.filter((r) => r.url === '/poll/send').length, 1, 'one send at a time');
  first.answer(200, { ok: true });
  await settle();
  const second = server.take('POST', '/poll/send');
  assert.deepEqual(JSON.parse(second.body), [b, c]);
  second.answer(200, {});
  await settle();
  assert.equal(server.waiting.filter((r) => r.url === '/poll/send').length, 0);
  assert.deepEqual(transport.outbox, []);
});

test('close ends the session with /poll/close, stops polling and reports nothing', async () => {
  const setup = setUp();
  const { clock, server, transport, seen } = setup;
  await open(setup);
  const poll = server.take('GET', '/poll?cursor=1');
  transport.close();
  await settle();
  assert.equal(poll.aborted, true);
  const closing = server.take('POST', '/poll/close');
  assert.equal(closing.headers['Parley-Session'], 'tok');
  assert.equal(closing.keepalive, true);
  assert.equal(transport.send({ type: 'say', text: 'late', ref: 'c9' }), false);
  await clock.advance(10000);
  assert.deepEqual(server.waiting.map((r) => r.url), ['/poll/close']);
  assert.deepEqual(seen.closes, []);
});

test('a 429 waits for Retry-After, asks again with the same cursor, and is never a failure', async () => {
  const setup = setUp();
  const { clock, server, seen } = setup;
  await open(setup, { cursor: 4 });
  for (let i = 0; i < 6; i += 1) {
    server.take('GET', '/poll?cursor=4').answer(429, { error: { code: 'rate_limited', message: 'slow' } }, { 'Retry-After': '2' });
    await clock.advance(1999);
    assert.equal(server.waiting.length, 0, `no poll before Retry-After (round ${i})`);
    await clock.advance(1);
  }
  server.take('GET', '/poll?cursor=4').answer(200, { cursor: 5, frames: [{ type: 'pong' }] });
  await settle();
  assert.deepEqual(seen.closes, []);
  assert.deepEqual(seen.frames.at(-1), { type: 'pong' });
});

test('failed polls are retried at once, then backing off, and the fourth in a row drops the link', async () => {
  const setup = setUp();
  const { clock, server, seen } = setup;
  await open(setup);
  server.take('GET', '/poll?cursor=1').drop();
  await clock.advance(200);
  server.take('GET', '/poll?cursor=1').answer(502); // a proxy's page: not JSON
  await clock.advance(499);
  assert.equal(server.waiting.length, 0);
  await clock.advance(1);
  server.take('GET', '/poll?cursor=1').drop();
  await clock.advance(999);
  assert.equal(server.waiting.length, 0);
  await clock.advance(1);
  assert.deepEqual(seen.closes, []);
  server.take('GET', '/poll?cursor=1').drop();
  await settle();
  assert.deepEqual(seen.closes, [{ code: 1006, reason: 'the server stopped answering' }]);
  // The server may still hold the session: it is ended.
  assert.equal(server.take('POST', '/poll/close').headers['Parley-Session'], 'tok');
  await clock.advance(60000);
  assert.deepEqual(server.waiting.map((r) => r.url), ['/poll/close']);
});

test('a success in between starts the failure count again', async () => {
  const setup = setUp();
  const { clock, server, seen } = setup;
  await open(setup);
  for (let round = 0; round < 3; round += 1) {
    for (let i = 0; i < 3; i += 1) {
      // Each poll fails as soon as it is made (a long wait before each
      // failure would look like a proxy's idle timeout instead).
      while (server.waiting.length === 0) await clock.advance(100);
      server.take('GET', '/poll?cursor=1').drop();
    }
    while (server.waiting.length === 0) await clock.advance(100);
    server.take('GET', '/poll?cursor=1').answer(200, { cursor: 1, frames: [] });
    await clock.advance(200);
  }
  assert.deepEqual(seen.closes, []);
});

test('two polls cut after the same wait are a proxy\'s idle timeout: shorter waits are asked for, said once', async () => {
  const setup = setUp();
  const { clock, server, transport, seen } = setup;
  const notices = [];
  transport.onnotice = (text) => notices.push(text);
  await open(setup);
  // A proxy answers 504 after 4 s, twice.
  const first = server.take('GET', '/poll?cursor=1');
  await clock.advance(4000);
  first.answer(504);
  await settle();
  assert.deepEqual(notices, [], 'one cut may be a broken link');
  await clock.advance(0);
  const second = server.take('GET', '/poll?cursor=1');
  await clock.advance(4100);
  second.drop();
  await settle();
  assert.equal(notices.length, 1);
  assert.match(notices[0], /about 4 s.*proxy_read_timeout/);
  // Asked again at once, with half the cut as the wait, and not a failure.
  await clock.advance(0);
  server.take('GET', '/poll?cursor=1&wait=2').answer(200, { cursor: 2, frames: [] });
  await clock.advance(200);
  server.take('GET', '/poll?cursor=2&wait=2');
  assert.deepEqual(seen.closes, []);
});

test('only cuts after a similar wait of a second or more look like an idle timeout', () => {
  assert.equal(idleCutWait(0, 4000), 0, 'the first cut');
  assert.equal(idleCutWait(900, 900), 0, 'too soon: a broken link');
  assert.equal(idleCutWait(4000, 6000), 0, 'not the same timeout');
  assert.equal(idleCutWait(30000, 30500), 15);
  assert.equal(idleCutWait(1000, 1100), 1, 'never below a second');
});

test('a poll unanswered for 60 s is aborted and asked again with the same cursor', async () => {
  const setup = setUp();
  const { clock, server } = setup;
  await open(setup, { cursor: 9 });
  const first = server.take('GET', '/poll?cursor=9');
  await clock.advance(59999);
  assert.equal(first.aborted, false);
  await clock.advance(1);
  assert.equal(first.aborted, true);
  server.take('GET', '/poll?cursor=9');
});

test('a batch that says closed delivers its frames, then closes with its code and no /poll/close', async () => {
  const setup = setUp();
  const { clock, server, seen } = setup;
  await open(setup);
  const bye = { type: 'message', id: 2, nick: 'bob', text: 'bye' };
  server.take('GET', '/poll?cursor=1').answer(200, {
    cursor: 2, frames: [bye], closed: { code: 4001, reason: 'replaced by a newer connection' },
  });
  await settle();
  assert.deepEqual(seen.frames.at(-1), bye);
  assert.deepEqual(seen.closes, [{ code: 4001, reason: 'replaced by a newer connection' }]);
  await clock.advance(60000);
  assert.equal(server.waiting.length, 0, 'no poll and no /poll/close after the server closed');
});

test('an expired session closes with 4002 and is not closed again', async () => {
  const setup = setUp();
  const { clock, server, seen } = setup;
  await open(setup);
  server.take('GET', '/poll?cursor=1').answer(404, { error: { code: 'unknown_session', message: 'no such session' } });
  await settle();
  assert.deepEqual(seen.closes, [{ code: 4002, reason: 'no such session' }]);
  await clock.advance(1000);
  assert.equal(server.waiting.length, 0);
});

test('a refused open closes at once with the matching code: the page backs off, not the transport', async () => {
  const cases = [
    [429, { error: { code: 'too_many_sessions', message: 'too many' } }, { code: 1013, reason: '' }],
    [400, { error: { code: 'bad_frame', message: 'bad join' } }, { code: 1002, reason: 'bad join' }],
    [403, { error: { code: 'transport_disabled', message: 'no' } }, { code: 1008, reason: 'no' }],
    [403, { error: { code: 'origin_not_allowed', message: 'no', hint: 'fix it' } }, { code: 4030, reason: 'fix it' }],
    [403, { error: { code: 'origin_not_allowed', message: 'no' } }, { code: 4030, reason: 'no' }],
    [502, undefined, { code: 1006, reason: '' }],
  ];
  for (const [status, body, expected] of cases) {
    const { clock, server, transport, seen } = setUp();
    transport.connect();
    await clock.advance(0);
    transport.send(JOIN);
    server.take('POST', '/poll/open').answer(status, body);
    await settle();
    assert.deepEqual(seen.closes, [expected], `HTTP ${status}`);
    await clock.advance(10000);
    assert.equal(server.waiting.length, 0, `HTTP ${status}: no retry, no /poll/close`);
  }
});

test('closed while opening: the session is ended when its token arrives, and nothing is reported', async () => {
  const { clock, server, transport, seen } = setUp();
  transport.connect();
  await clock.advance(0);
  transport.send(JOIN);
  transport.close();
  server.take('POST', '/poll/open').answer(200, { session: 'late', cursor: 1, frames: [WELCOME] });
  await settle();
  assert.equal(server.take('POST', '/poll/close').headers['Parley-Session'], 'late');
  assert.deepEqual(seen.frames, []);
  assert.deepEqual(seen.closes, []);
});

test('a send refused with 413 for several frames goes on one frame per request', async () => {
  const setup = setUp();
  const { server, transport } = setup;
  await open(setup);
  transport.send({ type: 'say', text: 'a', ref: 'c1' });
  transport.send({ type: 'say', text: 'b', ref: 'c2' });
  transport.send({ type: 'say', text: 'c', ref: 'c3' });
  server.take('POST', '/poll/send').answer(200, {});
  await settle();
  const together = server.take('POST', '/poll/send');
  assert.equal(JSON.parse(together.body).length, 2);
  together.answer(413, { error: { code: 'body_too_large', message: 'too big' } });
  await settle();
  const alone = server.take('POST', '/poll/send');
  assert.equal(JSON.parse(alone.body).ref, 'c2');
  alone.answer(200, {});
  await settle();
  assert.equal(JSON.parse(server.take('POST', '/poll/send').body).ref, 'c3');
});

test('a single frame refused with 413 closes with 1009', async () => {
  const setup = setUp();
  const { server, transport, seen } = setup;
  await open(setup);
  transport.send({ type: 'say', text: 'x'.repeat(100), ref: 'c1' });
  server.take('POST', '/poll/send').answer(413, { error: { code: 'body_too_large', message: 'too big' } });
  await settle();
  assert.deepEqual(seen.closes, [{ code: 1009, reason: 'too big' }]);
});

test('a failed send is repeated with the same body until it goes', async () => {
  const setup = setUp();
  const { clock, server, transport, seen } = setup;
  await open(setup);
  transport.send({ type: 'say', text: 'hello', ref: 'c1' });
  const first = server.take('POST', '/poll/send');
  first.drop();
  await settle();
  const again = server.take('POST', '/poll/send');
  assert.equal(again.body, first.body);
  again.answer(429, {}, { 'Retry-After': '1' });
  await clock.advance(999);
  assert.equal(server.waiting.filter((r) => r.url === '/poll/send').length, 0);
  await clock.advance(1);
  server.take('POST', '/poll/send').answer(200, {});
  await settle();
  assert.deepEqual(transport.outbox, []);
  assert.deepEqual(seen.closes, []);
});

test('packing stays within 32 frames and the byte budget, but always takes one', () => {
  const frames = Array.from({ length: 40 }, (_, i) => ({ type: 'typing', on: i % 2 === 0 }));
  const packed = packFrames(frames, 1 << 20);
  assert.equal(packed.count, MAX_FRAMES_PER_SEND);
  assert.equal(JSON.parse(packed.body).length, 32);

  const say = (text) => ({ type: 'say', text, ref: 'c1' });
  const one = JSON.stringify(say('é'.repeat(10)));
  // Bytes, not characters: each é is two.
  const budget = 2 + 2 * (Buffer.byteLength(one) + 1);
  assert.equal(packFrames([say('é'.repeat(10)), say('é'.repeat(10)), say('é'.repeat(10))], budget).count, 2);
  assert.equal(packFrames([say('é'.repeat(10)), say('é'.repeat(10))], budget - 1).count, 1);

  const big = packFrames([say('x'.repeat(POLL_SEND_BUDGET * 2)), say('y')], POLL_SEND_BUDGET);
  assert.equal(big.count, 1);
  assert.equal(JSON.parse(big.body).text.length, POLL_SEND_BUDGET * 2, 'a lone frame is sent as itself');
  assert.equal(packFrames([say('a')], 0).count, 1);
});
