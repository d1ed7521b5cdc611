// The client library (clients/js/parley-client.js) on fake transports and
// a fake clock: which transport it picks, its fallback to long-polling,
// resume (cursor and token on every rejoin), acks and idempotent resends,
// the offline queue, its promises, and the URLs it derives.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  ParleyClient, connect, endpoints, offeredTransports,
} from '../../clients/js/parley-client.js';
import { ACK_RESEND_MS, createOutbox } from '../../clients/js/outbox.js';
import { FakeClock, FakeLink, settle } from './fakes.mjs';

/** A Storage that keeps its items in a Map. */
function memoryStorage() {
  const items = new Map();
  return {
    items,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, String(value)); },
  };
}

/**
 * A client whose transports are fakes: `links.websocket` and
 * `links.polling` make and drive them. `answers` is what the HTTP probe
 * says when a WebSocket fails to open.
 */
function setUp({ transport = 'auto', storage = memoryStorage(), answers = true, offered } = {}) {
  const clock = new FakeClock();
  const links = { websocket: new FakeLink(), polling: new FakeLink() };
  const events = [];
  let words = 0;
  const client = new ParleyClient({
    url: 'https://chat.test/parley/',
    transport,
    offered,
    storage,
    transports: { websocket: () => links.websocket.make(), polling: () => links.polling.make() },
    probe: async () => ({ answers, refused: null }),
    io: { ...clock, random: () => 0, randomWords: () => { words += 1; return [words, words]; } },
  });
  for (const name of ['status', 'transport', 'welcome', 'message', 'ack', 'failed', 'queued', 'presence', 'typing', 'error', 'close', 'open']) {
    client.on(name, (detail) => events.push([name, detail]));
  }
  const of = (name) => events.filter(([n]) => n === name).map(([, detail]) => detail);
  return { clock, links, client, events, of, storage };
}

const welcome = (over = {}) => ({
  type: 'welcome', v: 1, minor: 1, nick: 'ann', room: 'lobby', session: 'tok-1', epoch: 'e1', cursor: 0,
  gap: false, history: [], roster: [{ nick: 'ann' }], count: 1, limits: { max_message_chars: 2000 }, ...over,
});

const message = (id, nick, text) => ({ type: 'message', id, nick, text, ts: 1700000000000 + id });

/** Connects over WebSocket, joins as ann in the lobby and is welcomed. */
function joinedOnWebSocket(setup, w = welcome()) {
  const { client, links } = setup;
  client.connect();
  links.websocket.current.open();
  const joining = client.join({ nick: 'ann', room: 'lobby' });
  links.websocket.deliver(w);
  return joining;
}

const says = (link) => link.sent.filter((frame) => frame.type === 'say');

test('it derives the HTTP prefix and the WebSocket URL from the server URL, base path included', () => {
  assert.deepEqual(endpoints('https://host.test/chat/'), {
    http: 'https://host.test/chat', ws: 'wss://host.test/chat/ws', base: '/chat', origin: 'https://host.test',
  });
  assert.equal(endpoints('http://host.test:8080').ws, 'ws://host.test:8080/ws');
  assert.equal(endpoints('http://host.test:8080').http, 'http://host.test:8080');
  assert.equal(endpoints('wss://host.test/chat/ws').http, 'https://host.test/chat');
  assert.equal(endpoints('/chat/', 'http://page.test/x/y').ws, 'ws://page.test/chat/ws');
  assert.throws(() => endpoints('ftp://host.test/'), TypeError);
  assert.throws(() => new ParleyClient({}), TypeError);
});

test('it picks WebSocket first, a forced transport, or what the server offers', () => {
  const auto = setUp();
  auto.client.connect();
  assert.equal(auto.client.transport, 'websocket');
  assert.equal(auto.links.websocket.made, 1);
  assert.equal(auto.links.polling.made, 0);

  const forced = setUp({ transport: 'polling' });
  forced.client.connect();
  assert.equal(forced.links.polling.made, 1);
  assert.equal(forced.links.websocket.made, 0);

  const pollingOnly = setUp({ offered: offeredTransports('polling', ['websocket', 'polling']) });
  pollingOnly.client.connect();
  assert.equal(pollingOnly.client.transport, 'polling');

  const unknown = setUp({ transport: 'carrier-pigeon' });
  unknown.client.connect();
  assert.equal(unknown.client.transport, 'websocket', 'an override it does not know is ignored');
});

test('a WebSocket that cannot get through falls back to polling, remembered for the next client', async () => {
  const { client, links, of, storage } = setUp();
  client.connect();
  client.join({ nick: 'ann', room: 'lobby' });
  links.websocket.drop(1006);
  await settle();
  assert.equal(client.transport, 'polling');
  assert.deepEqual(of('transport'), [{ name: 'polling', why: 'WebSocket could not connect' }]);
  assert.equal(storage.getItem('parley.transport:https://chat.test/parley'), 'polling');
  // The join goes out on the polling transport once it opens.
  links.polling.current.open();
  assert.deepEqual(links.polling.sent, [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby' }]);

  const next = setUp({ storage });
  next.client.connect();
  assert.equal(next.client.transport, 'polling');
  assert.equal(next.links.websocket.made, 0, 'the next client starts on polling');
  assert.match(next.client.fallbackReason, /WebSocket failed earlier/);
});

test('no fallback when the server does not answer HTTP either, or when WebSocket is forced', async () => {
  const down = setUp({ answers: false });
  down.client.connect();
  down.links.websocket.drop(1006);
  await settle();
  assert.equal(down.client.transport, 'websocket');

  const forced = setUp({ transport: 'websocket' });
  forced.client.connect();
  forced.links.websocket.drop(1006);
  await settle();
  assert.equal(forced.client.transport, 'websocket');
  assert.equal(forced.links.polling.made, 0);
});

test('with storage switched off (null) it still falls back, and keeps nothing', async () => {
  const { client, links } = setUp({ storage: null });
  client.connect();
  links.websocket.drop(1006);
  await settle();
  assert.equal(client.transport, 'polling');
});

test('every rejoin carries the cursor (since), the epoch and the resume token', async () => {
  const setup = setUp();
  const { client, links, clock, of } = setup;
  const welcomed = await joinedOnWebSocket(setup, welcome({ cursor: 7, history: [message(7, 'bob', 'seven')] }));
  assert.equal(welcomed.room, 'lobby');
  assert.deepEqual(of('message'), [], 'history comes with the welcome, not as messages');
  links.websocket.deliver(message(8, 'bob', 'eight'));
  links.websocket.drop(1006);
  assert.equal(of('close').at(-1).wasJoined, true);
  assert.equal(client.status.state, 'reconnecting');
  await clock.advance(250);
  assert.equal(links.websocket.made, 2, 'it reconnects by itself after its backoff');
  links.websocket.current.open();
  assert.deepEqual(links.websocket.sent.at(-1), {
    type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 8, epoch: 'e1', resume: 'tok-1',
  });
  // The replay repeats what was seen: only the new one is told.
  links.websocket.deliver(welcome({ session: 'tok-2', cursor: 9, history: [message(8, 'bob', 'eight'), message(9, 'bob', 'nine')] }));
  assert.deepEqual(of('welcome').at(-1).history.map((m) => m.id), [9]);
  assert.equal(of('welcome').at(-1).kind, 'rejoin');
  links.websocket.drop(1001);
  client.reconnect();
  links.websocket.current.open();
  assert.equal(links.websocket.sent.at(-1).resume, 'tok-2', 'the newest token');
  assert.equal(links.websocket.sent.at(-1).since, 9);
});

test('resume works across a fallback: the rejoin on polling carries since and resume', async () => {
  const setup = setUp();
  const { client, links } = setup;
  await joinedOnWebSocket(setup, welcome({ cursor: 3 }));
  // WebSocket worked once: three failed opens in a row hand over.
  links.websocket.drop(1006);
  for (let i = 0; i < 3; i += 1) {
    client.reconnect();
    links.websocket.drop(1006);
    await settle();
  }
  assert.equal(client.transport, 'polling');
  links.polling.current.open();
  assert.deepEqual(links.polling.sent, [{
    type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 3, epoch: 'e1', resume: 'tok-1',
  }]);
});

test('say resolves on its ack; a duplicate ack is ignored; the same ref goes again after a reconnect', async () => {
  const setup = setUp();
  const { client, links, of } = setup;
  await joinedOnWebSocket(setup);
  const first = client.say('one');
  const second = client.say('two');
  assert.match(first.ref, /^c1-/);
  assert.deepEqual(says(links.websocket).map((f) => f.text), ['one'], 'one at a time');
  links.websocket.deliver({ type: 'ack', ref: first.ref, id: 1 });
  assert.deepEqual(await first, { ref: first.ref, id: 1 });
  assert.deepEqual(says(links.websocket).map((f) => f.text), ['one', 'two']);
  links.websocket.deliver({ type: 'ack', ref: first.ref, id: 1 });
  assert.equal(of('ack').length, 1, 'a second ack for the same ref is ignored');
  assert.equal(says(links.websocket).length, 2, 'and sends nothing more');

  // "two" is in flight when the link drops: after the rejoin it goes again with its ref.
  links.websocket.drop(1006);
  client.reconnect();
  links.websocket.current.open();
  links.websocket.deliver(welcome({ session: 'tok-2', cursor: 2, history: [message(2, 'ann', 'two')] }));
  const again = says(links.websocket);
  assert.equal(again.length, 3);
  assert.equal(again[2].ref, second.ref);
  assert.equal(again[2].ref, again[1].ref);
  // The server had posted it: it only acks, and the message came once, in the replay.
  links.websocket.deliver({ type: 'ack', ref: second.ref, id: 2 });
  assert.deepEqual(await second, { ref: second.ref, id: 2 });
  assert.equal(of('welcome').at(-1).history[0].ref, second.ref, 'the replayed message is known as ours');
  assert.equal(client.pending, 0);
});

test('a say whose ack never comes goes again with its ref, and is acknowledged once', async () => {
  const setup = setUp();
  const { client, links, clock, of } = setup;
  await joinedOnWebSocket(setup);
  const said = client.say('lost ack');
  assert.equal(says(links.websocket).length, 1);
  await clock.advance(ACK_RESEND_MS - 1);
  assert.equal(says(links.websocket).length, 1, 'not before its time');
  await clock.advance(1);
  const sent = says(links.websocket);
  assert.equal(sent.length, 2, 'sent again on the same link');
  assert.equal(sent[1].ref, sent[0].ref, 'with the same ref, so it is never posted twice');
  links.websocket.deliver({ type: 'ack', ref: said.ref, id: 7 });
  assert.deepEqual(await said, { ref: said.ref, id: 7 });
  await clock.advance(ACK_RESEND_MS * 2);
  assert.equal(says(links.websocket).length, 2, 'nothing more once acknowledged');
  assert.equal(of('ack').length, 1);
});

test('what is said while offline is queued and goes out after the reconnect, in order', async () => {
  const setup = setUp();
  const { client, links, of } = setup;
  await joinedOnWebSocket(setup);
  links.websocket.drop(1006);
  const promises = ['a', 'b', 'c'].map((text) => client.say(text));
  assert.deepEqual(of('queued').map((q) => q.text), ['a', 'b', 'c']);
  assert.equal(client.pending, 3);
  assert.equal(says(links.websocket).length, 0, 'nothing goes while down');
  client.reconnect();
  links.websocket.current.open();
  assert.equal(says(links.websocket).length, 0, 'nor before the welcome');
  links.websocket.deliver(welcome({ session: 'tok-2' }));
  for (let id = 1; id <= 3; id += 1) {
    const frame = says(links.websocket).at(-1);
    links.websocket.deliver(message(id, 'ann', frame.text));
    links.websocket.deliver({ type: 'ack', ref: frame.ref, id });
  }
  assert.deepEqual(says(links.websocket).map((f) => f.text), ['a', 'b', 'c']);
  assert.deepEqual((await Promise.all(promises)).map((ack) => ack.id), [1, 2, 3]);
  assert.deepEqual(of('message').map((m) => [m.text, m.own, m.ref !== undefined]), [
    ['a', true, true], ['b', true, true], ['c', true, true],
  ]);
});

test('a refused message rejects with the server\'s code; a join error rejects the join', async () => {
  const setup = setUp();
  const { client, links, of } = setup;
  client.connect();
  links.websocket.current.open();
  const joining = client.join({ nick: 'ann', room: 'lobby' });
  links.websocket.deliver({ type: 'error', code: 'nick_taken', message: 'the nickname ann is taken in lobby' });
  await assert.rejects(joining, { name: 'ParleyError', code: 'nick_taken' });
  assert.equal(of('error').at(-1).during, 'join');
  assert.equal(client.joined, false);

  const again = client.join({ nick: 'annie' });
  links.websocket.deliver(welcome({ nick: 'annie' }));
  assert.equal((await again).nick, 'annie');
  const said = client.say('\u0007');
  links.websocket.deliver({ type: 'error', code: 'invalid_text', message: 'control characters', ref: said.ref });
  await assert.rejects(said, { code: 'invalid_text' });
  assert.equal(of('failed').at(-1).error.code, 'invalid_text');
});

test('events: messages, presence, typing and renames, with our own marked', async () => {
  const setup = setUp();
  const { client, links, of } = setup;
  await joinedOnWebSocket(setup);
  links.websocket.deliver({ type: 'joined', nick: 'bob', count: 2 });
  links.websocket.deliver({ type: 'typing', nick: 'bob', on: true });
  links.websocket.deliver(message(1, 'bob', 'hi ann'));
  links.websocket.deliver(message(1, 'bob', 'hi ann'));
  const renaming = client.rename('annie');
  assert.deepEqual(links.websocket.sent.at(-1), { type: 'nick', nick: 'annie' });
  links.websocket.deliver({ type: 'renamed', old: 'ann', new: 'annie' });
  assert.equal((await renaming).new, 'annie');
  assert.equal(client.nick, 'annie');
  links.websocket.deliver({ type: 'left', nick: 'bob', count: 1 });
  assert.deepEqual(of('presence').map((p) => p.kind), ['joined', 'renamed', 'left']);
  assert.equal(of('presence')[1].own, true);
  assert.deepEqual(of('typing'), [{ nick: 'bob', on: true, own: false }]);
  assert.deepEqual(of('message').map((m) => [m.id, m.own, m.room]), [[1, false, 'lobby']], 'a duplicate is told once');
  assert.equal(client.typing(true), true);
  assert.deepEqual(links.websocket.sent.at(-1), { type: 'typing', on: true });
});

test('history pages resolve by their ref; a drop rejects what is in flight', async () => {
  const setup = setUp();
  const { client, links } = setup;
  await joinedOnWebSocket(setup, welcome({ cursor: 120 }));
  const page = client.history({ before: 101, limit: 2 });
  assert.deepEqual(links.websocket.sent.at(-1), { type: 'history', before: 101, limit: 2, ref: 'h1' });
  links.websocket.deliver({ type: 'history', ref: 'h1', before: 101, messages: [message(99, 'ann', 'x'), message(100, 'bob', 'y')], more: true });
  const answer = await page;
  assert.deepEqual(answer.messages.map((m) => [m.id, m.own]), [[99, true], [100, false]]);
  assert.equal(answer.more, true);
  const lost = client.history({ before: 99 });
  links.websocket.drop(1006);
  await assert.rejects(lost, { code: 'link_lost' });
  await assert.rejects(client.history({ before: 99 }), { code: 'not_joined' });
});

test('close() ends the link for good and rejects what waits; disconnect() keeps it', async () => {
  const setup = setUp();
  const { client, links, clock } = setup;
  await joinedOnWebSocket(setup);
  links.websocket.drop(1006);
  const kept = client.say('kept');
  client.disconnect();
  await clock.advance(60000);
  assert.equal(links.websocket.made, 1, 'no reconnect after disconnect()');
  client.reconnect();
  links.websocket.current.open();
  links.websocket.deliver(welcome({ session: 'tok-2' }));
  assert.equal(says(links.websocket).at(-1).ref, kept.ref);
  const lost = client.say('lost');
  client.close();
  assert.equal(links.websocket.current.closed, true);
  assert.equal(client.status.state, 'offline');
  await assert.rejects(lost, { code: 'closed' });
  await clock.advance(60000);
  assert.equal(links.websocket.made, 2);
});

test('a replaced connection goes offline and says so in its close event', async () => {
  const setup = setUp();
  await joinedOnWebSocket(setup);
  setup.links.websocket.drop(4001);
  assert.equal(setup.of('close').at(-1).replaced, true);
  assert.equal(setup.client.status.state, 'offline');
});

test('connect() makes a client and connects it at once', () => {
  const links = new FakeLink();
  const client = connect('http://chat.test/', {
    storage: null, transport: 'websocket', transports: { websocket: () => links.make() },
  });
  assert.equal(links.made, 1);
  client.close();
});

test('the outbox holds messages for a room until it can send them', () => {
  const sent = [];
  const told = [];
  let ready = false;
  let room = 'lobby';
  const outbox = createOutbox({
    send: (frame) => { sent.push(frame); return true; },
    canSend: () => ready,
    room: () => room,
    emit: (name, detail) => told.push([name, detail.ref, detail.error && detail.error.code]),
    io: { ...new FakeClock(), randomWords: () => [35, 36] },
  });
  const { ref } = outbox.say('hi', 'ann');
  assert.equal(ref, 'c1-z10');
  assert.deepEqual(sent, []);
  ready = true;
  outbox.pump();
  assert.deepEqual(sent, [{ type: 'say', text: 'hi', ref }]);
  room = 'kitchen';
  const elsewhere = outbox.say('elsewhere', 'ann');
  outbox.ack(ref, 1);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].text, 'elsewhere');
  assert.equal(outbox.failOutside('kitchen'), 0);
  assert.equal(outbox.size, 1);
  assert.equal(outbox.failOutside('lobby'), 1);
  assert.deepEqual(told.map(([name]) => name), ['queued', 'queued', 'ack', 'failed']);
  assert.deepEqual(told.at(-1), ['failed', elsewhere.ref, 'left_room']);
});
