// The client library's side of the roster in pages (protocol minor 2):
// joins state `minor: 2` and fall back when an older server refuses it,
// roster() requests resolve by their ref, the welcome says whether its
// roster is complete, and big rooms' presence comes counted.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { ParleyClient } from '../../clients/js/parley-client.js';
import { FakeClock, FakeLink, settle } from './fakes.mjs';

/** A client on a fake WebSocket, connected and open. */
function setUp() {
  const clock = new FakeClock();
  const link = new FakeLink();
  let words = 0;
  const client = new ParleyClient({
    url: 'https://chat.test/',
    transport: 'websocket',
    storage: null,
    share: false,
    transports: { websocket: () => link.make() },
    io: { ...clock, random: () => 0, randomWords: () => { words += 1; return [words, words]; } },
  });
  const events = [];
  for (const name of ['welcome', 'presence', 'roster', 'error']) client.on(name, (d) => events.push([name, d]));
  const of = (name) => events.filter(([n]) => n === name).map(([, d]) => d);
  client.connect();
  link.current.open();
  return { clock, link, client, of };
}

const LIMITS = { max_message_chars: 2000, max_roster_limit: 100, big_room_members: 1000 };

const welcome = (over = {}) => ({
  type: 'welcome', v: 1, minor: 2, nick: 'ann', room: 'tea', session: 'tok-1', epoch: 'e1', cursor: 0,
  gap: false, history: [], roster: [{ nick: 'ann', typing: false }], count: 1, limits: LIMITS, ...over,
});

const joins = (link) => link.sent.filter((f) => f.type === 'join');

test('a join states minor 2', async () => {
  const { link, client } = setUp();
  const joined = client.join({ nick: 'ann', room: 'tea' });
  assert.deepEqual(joins(link), [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'tea' }]);
  link.deliver(welcome());
  const w = await joined;
  assert.equal(w.rosterComplete, true);
  assert.equal(w.bigRoom, false);
  assert.equal(client.minor, 2);
});

test('an older server refusing `minor` gets the same join without it, and never again', async () => {
  const { link, client, of } = setUp();
  const joined = client.join({ nick: 'ann', room: 'tea' });
  link.deliver({ type: 'error', code: 'bad_frame', message: 'unknown field `minor`, expected one of `v`, `nick`, `room`' });
  assert.deepEqual(joins(link).at(-1), { type: 'join', v: 1, nick: 'ann', room: 'tea' });
  assert.deepEqual(of('error'), [], 'the refusal is handled, not reported');
  link.deliver(welcome({ minor: 1 }));
  await joined;
  // After a drop, the rejoin does not state it either.
  link.drop(1006);
  link.openAnew(client);
  assert.equal(joins(link).length, 3);
  assert.equal('minor' in joins(link).at(-1), false);
  // A roster request to a minor-1 server is refused on this side.
  link.deliver(welcome({ minor: 1, session: 'tok-1' }));
  await assert.rejects(client.roster({ limit: 5 }), { code: 'unsupported' });
});

test('a bad_frame about something else is reported as before', async () => {
  const { link, client, of } = setUp();
  client.join({ nick: 'ann', room: 'tea' });
  link.deliver({ type: 'error', code: 'bad_frame', message: 'frame is not JSON' });
  assert.equal(joins(link).length, 1);
  assert.equal(of('error')[0].code, 'bad_frame');
});

test('roster pages resolve by their ref with {members, next, count}; errors reject theirs', async () => {
  const { link, client, of } = setUp();
  await settle();
  const joined = client.join({ nick: 'eve', room: 'hall' });
  link.deliver(welcome({ nick: 'eve', room: 'hall', roster: [], roster_next: '', count: 1204 }));
  const w = await joined;
  assert.equal(w.rosterComplete, false);
  assert.equal(w.bigRoom, true);
  assert.equal(w.roster_next, '');

  const first = client.roster({ after: '', limit: 3 });
  const search = client.roster({ prefix: 'an', limit: 2 });
  const [askFirst, askSearch] = link.sent.filter((f) => f.type === 'roster');
  assert.deepEqual(askFirst, { type: 'roster', after: '', limit: 3, ref: askFirst.ref });
  assert.deepEqual(askSearch, { type: 'roster', prefix: 'an', limit: 2, ref: askSearch.ref });
  assert.notEqual(askFirst.ref, askSearch.ref);
  // Answered out of order: each goes to its own caller.
  link.deliver({ type: 'roster', ref: askSearch.ref, members: [{ nick: 'Andy', typing: false }, { nick: 'ann', typing: true }], next: 'ann', count: 1204 });
  link.deliver({ type: 'roster', ref: askFirst.ref, members: [{ nick: 'Andy', typing: false }], count: 1205 });
  assert.deepEqual(await search, {
    ref: askSearch.ref, after: undefined, prefix: 'an', members: [{ nick: 'Andy', typing: false }, { nick: 'ann', typing: true }], next: 'ann', count: 1204,
  });
  const page = await first;
  assert.equal(page.next, null, 'no next: the end');
  assert.equal(page.count, 1205);
  assert.equal(of('roster').length, 2);

  const refused = client.roster({ limit: 101 });
  const ask = link.sent.at(-1);
  link.deliver({ type: 'error', code: 'invalid_limit', message: 'limit must be 1 to 100; it was 101', ref: ask.ref });
  await assert.rejects(refused, { code: 'invalid_limit' });
  assert.deepEqual(of('error'), []);

  const lost = client.roster({});
  link.drop(1006);
  await assert.rejects(lost, { code: 'link_lost' });
  await assert.rejects(client.roster({}), { code: 'not_joined' });
});

test('big rooms\' presence carries arrived and departed; smaller rooms\' does not', async () => {
  const { link, client, of } = setUp();
  client.join({ nick: 'ann', room: 'tea' });
  link.deliver(welcome());
  link.deliver({ type: 'presence', changes: [{ nick: 'u1', present: true }, { nick: 'u2', present: true }], count: 40 });
  link.deliver({ type: 'presence', changes: [{ nick: 'u9', present: true }], count: 1231, arrived: 30, departed: 4 });
  const [small, big] = of('presence');
  assert.equal('arrived' in small, false);
  assert.deepEqual(big, { kind: 'presence', changes: [{ nick: 'u9', present: true }], count: 1231, arrived: 30, departed: 4 });
});
