// Older messages on demand: the pager fed welcomes, answers and errors,
// with a fake view and a fake `history` (the client library's, which
// answers with a promise), watching what it asks for and draws.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { HISTORY_MINOR, PAGE_SIZE, createOlder } from '../../assets/js/older.js';
import { FakeClock, settle } from './fakes.mjs';

function setUp({ atTop = true } = {}) {
  const clock = new FakeClock();
  const sent = [];
  const drawn = [];
  const link = { joined: true };
  const view = {
    atTop,
    prependMessages: (items) => drawn.push(['prepend', items.map(({ message, own }) => [message.id, own])]),
    showBeginning: (atStart) => drawn.push(['beginning', atStart]),
    nearTop: () => view.atTop,
  };
  /** ref -> the promise's {resolve, reject}; the refs number the requests. */
  const waiting = new Map();
  const pager = createOlder({
    history: ({ before, limit }) => new Promise((resolve, reject) => {
      const ref = `h${sent.length + 1}`;
      sent.push({ type: 'history', before, limit, ref });
      waiting.set(ref, { resolve, reject });
    }),
    canAsk: () => link.joined,
    ownNick: () => 'ann',
    view,
    io: clock,
  });
  // The pager, plus the server's side: answer (a history frame) or refuse
  // (an error frame) the request its ref names, and let the promise settle.
  const older = Object.assign(Object.create(pager), {
    async answer(frame) {
      const { type, ref, ...page } = frame;
      if (waiting.has(ref)) waiting.get(ref).resolve(page);
      await settle();
    },
    async refused(e) {
      if (waiting.has(e.ref)) waiting.get(e.ref).reject({ code: e.code, retry_ms: e.retry_ms });
      await settle();
    },
  });
  return { clock, sent, drawn, link, view, older };
}

function message(id, nick = 'bob') {
  return { id, ts: id, nick, text: `m${id}` };
}

function ids(from, to) {
  const out = [];
  for (let id = from; id <= to; id += 1) out.push(id);
  return out;
}

test('asks for the page before the oldest shown, one request at a time', async () => {
  const { sent, older } = setUp();
  older.reset({ first: 151, cursor: 200, minor: HISTORY_MINOR });
  assert.equal(older.nearTop(), true);
  assert.equal(older.nearTop(), false, 'nothing more while one is out');
  assert.deepEqual(sent, [{ type: 'history', before: 151, limit: PAGE_SIZE, ref: 'h1' }]);
  assert.equal(older.isLoading(), true);
});

test('prepends each page, oldest first, and asks from its first id next', async () => {
  const { sent, drawn, older, view } = setUp();
  older.reset({ first: 101, cursor: 150, minor: 1 });
  older.nearTop();
  view.atTop = false;
  await older.answer({ type: 'history', ref: 'h1', before: 101, messages: ids(51, 100).map((id) => message(id, id === 60 ? 'ann' : 'bob')), more: true });
  assert.equal(drawn.length, 1);
  assert.equal(drawn[0][0], 'prepend');
  assert.deepEqual(drawn[0][1].map(([id]) => id), ids(51, 100));
  assert.deepEqual(drawn[0][1].find(([id]) => id === 60), [60, true], 'our own are marked');
  assert.equal(sent.length, 1, 'the top is out of view: nothing more yet');
  older.nearTop();
  assert.deepEqual(sent[1], { type: 'history', before: 51, limit: PAGE_SIZE, ref: 'h2' });
});

test('says "Beginning of the room" when there is no more, and stops asking', async () => {
  const { sent, drawn, older } = setUp();
  older.reset({ first: 41, cursor: 90, minor: 1 });
  older.nearTop();
  await older.answer({ type: 'history', ref: 'h1', before: 41, messages: ids(1, 40).map((id) => message(id)), more: false });
  assert.deepEqual(drawn.at(-1), ['beginning', true]);
  assert.equal(older.hasMore(), false);
  assert.equal(older.nearTop(), false);
  assert.equal(sent.length, 1);
});

test('a room that forgot its oldest messages says so instead', async () => {
  const { drawn, older } = setUp();
  older.reset({ first: 300, cursor: 320, minor: 1 });
  older.nearTop();
  await older.answer({ type: 'history', ref: 'h1', before: 300, messages: ids(250, 299).map((id) => message(id)), more: false });
  assert.deepEqual(drawn.at(-1), ['beginning', false]);
});

test('a list that starts at the first message is the beginning at once', async () => {
  const { sent, drawn, older } = setUp();
  older.reset({ first: 1, cursor: 10, minor: 1 });
  assert.deepEqual(drawn, [['beginning', true]]);
  assert.equal(older.nearTop(), false);
  older.reset({ first: undefined, cursor: 0, minor: 1 });
  assert.deepEqual(drawn.at(-1), ['beginning', true], 'an empty room too');
  assert.equal(sent.length, 0);
});

test('keeps asking while the list does not reach past its top', async () => {
  const { sent, older } = setUp({ atTop: true });
  older.reset({ first: 201, cursor: 250, minor: 1 });
  older.nearTop();
  await older.answer({ type: 'history', ref: 'h1', before: 201, messages: ids(151, 200).map((id) => message(id)), more: true });
  assert.deepEqual(sent.map((f) => f.before), [201, 151]);
});

test('an old server (no minor version) is never asked', async () => {
  const { sent, drawn, older } = setUp();
  older.reset({ first: 51, cursor: 100, minor: undefined });
  assert.equal(older.nearTop(), false);
  assert.deepEqual(sent, []);
  assert.deepEqual(drawn, [], 'no beginning claimed either');
});

test('ignores answers it is not waiting for and messages it already shows', async () => {
  const { drawn, older } = setUp({ atTop: false });
  older.reset({ first: 11, cursor: 20, minor: 1 });
  await older.answer({ type: 'history', ref: 'h9', before: 11, messages: [message(5)], more: true });
  assert.deepEqual(drawn, []);
  older.nearTop();
  older.reset({ first: 31, cursor: 40, minor: 1 });
  await older.answer({ type: 'history', ref: 'h1', before: 11, messages: [message(5)], more: true });
  assert.deepEqual(drawn, [], 'an answer from before a room switch');
  older.nearTop();
  await older.answer({ type: 'history', ref: 'h2', before: 31, messages: [message(29), message(30), message(31)], more: true });
  assert.deepEqual(drawn, [['prepend', [[29, false], [30, false]]]]);
});

test('rate_limited waits retry_ms, then asks again if the top is still in view', async () => {
  const { clock, sent, older } = setUp();
  older.reset({ first: 61, cursor: 90, minor: 1 });
  older.nearTop();
  assert.equal(older.isLoading(), true);
  await older.refused({ type: 'error', code: 'rate_limited', ref: 'h1', retry_ms: 700 });
  assert.equal(older.nearTop(), false, 'held off');
  await clock.advance(699);
  assert.equal(sent.length, 1);
  await clock.advance(1);
  assert.deepEqual(sent.map((f) => [f.before, f.ref]), [[61, 'h1'], [61, 'h2']]);
});

test('a lost link drops the request; the next top asks again', async () => {
  const { sent, older, link } = setUp();
  older.reset({ first: 61, cursor: 90, minor: 1 });
  older.nearTop();
  older.linkLost();
  link.joined = false;
  assert.equal(older.nearTop(), false, 'not while out of the room');
  link.joined = true;
  assert.equal(older.nearTop(), true);
  assert.deepEqual(sent.map((f) => f.ref), ['h1', 'h2']);
});

test('a refusal that would repeat stops paging in the room', async () => {
  const { sent, older } = setUp();
  older.reset({ first: 61, cursor: 90, minor: 1 });
  older.nearTop();
  await older.refused({ type: 'error', code: 'invalid_before', ref: 'h1' });
  assert.equal(older.nearTop(), false);
  assert.equal(sent.length, 1);
});
