// The page's side of big rooms: the pure rules (a counted batch in one
// line, the note under a partial roster, the server's name order), the
// Roster when partial, the roster pager (pages on demand, a debounced
// search with one request in flight), and the chat telling a big room's
// presence counted while a smaller room's stays one line per arrival.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { countedPresenceText, othersHereText, rosterNote } from '../../assets/js/format.js';
import { Roster, nameOrder } from '../../assets/js/roster.js';
import { ROSTER_PAGE_SIZE, SEARCH_DEBOUNCE_MS, createRosterPager } from '../../assets/js/roster-pager.js';
import { ParleyClient } from '../../clients/js/parley-client.js';
import { createChat } from '../../assets/js/chat.js';
import { FakeClock, FakeLink, settle } from './fakes.mjs';
import { plainText } from '../../assets/js/sentence.js';

test('a counted batch is one line: who came and went, and the size', () => {
  assert.equal(countedPresenceText({ arrived: 12, departed: 3, count: 1204 }), '12 people joined, 3 left — there are 1,204 participants');
  assert.equal(countedPresenceText({ arrived: 1, departed: 0, count: 1000 }), '1 person joined — there are 1,000 participants');
  assert.equal(countedPresenceText({ arrived: 0, departed: 1, count: 999 }), '1 person left — there are 999 participants');
  assert.equal(countedPresenceText({ arrived: 0, departed: 0, count: 5 }), '');
});

test('the note under a partial roster says how much is listed, or what a search found', () => {
  assert.equal(rosterNote({ complete: true, shown: 3, count: 3 }), '');
  assert.equal(rosterNote({ complete: false, shown: 30, count: 1204 }), 'Showing 30 of 1,204 people; scroll for more, or search by name.');
  assert.equal(rosterNote({ complete: false, shown: 41, count: 41 }), 'Showing 41 of 41 people.');
  assert.equal(rosterNote({ complete: false, shown: 0, count: 9, prefix: 'zz' }), 'Nobody here has a name starting with “zz”.');
  assert.equal(rosterNote({ complete: false, shown: 1, count: 9, prefix: 'an' }), '1 person whose name starts with “an”.');
  assert.equal(rosterNote({ complete: false, shown: 30, count: 900, prefix: 'a', more: true }), 'First 30 people whose name starts with “a”; scroll for more.');
});

test('an empty room\'s greeting counts the room, not the partial list', () => {
  assert.equal(othersHereText([], 'ann', 1204), '1,203 others are here too.');
  assert.equal(othersHereText(['ann', 'bob', 'cy'], 'ann', 50), 'bob, cy and 47 others are here too.');
  assert.equal(othersHereText(['ann', 'bob'], 'ann'), 'bob is here too.');
});

test('name order is the server\'s: folded character by character, then as written', () => {
  const names = ['zoe', 'Bob', 'anna', 'Andy', 'carl', 'ann', 'eve', 'Ann'];
  assert.deepEqual([...names].sort(nameOrder), ['Andy', 'Ann', 'ann', 'anna', 'Bob', 'carl', 'eve', 'zoe']);
});

test('a partial roster lists its pages and the sampled names in name order', () => {
  const roster = new Roster();
  roster.reset([], 1204, false);
  assert.equal(roster.complete, false);
  roster.addPage([{ nick: 'carl' }, { nick: 'Andy', typing: true }], 1205);
  roster.applyPresence([{ nick: 'bea', present: true }, { nick: 'carl', present: false }], 1210, 'eve');
  assert.deepEqual(roster.people(), [{ nick: 'Andy', typing: true }, { nick: 'bea', typing: false }]);
  assert.equal(roster.count, 1210);
});

/** A pager whose requests the test answers: `asked` holds {query, resolve, reject}. */
function pagerSetUp({ end = () => true } = {}) {
  const clock = new FakeClock();
  const asked = [];
  const pages = [];
  let changes = 0;
  const pager = createRosterPager({
    ask: (query) => new Promise((resolve, reject) => asked.push({ query, resolve, reject })),
    canAsk: () => true,
    addPage: (members, count) => pages.push([members.map((m) => m.nick), count]),
    changed: () => { changes += 1; },
    atEnd: end,
    io: clock,
  });
  return {
    clock, asked, pages, pager, changes: () => changes,
  };
}

const people = (...nicks) => nicks.map((nick) => ({ nick, typing: false }));

test('the pager asks the first page of a big room, then the next only when the end is in view', async () => {
  let end = true;
  const { asked, pages, pager } = pagerSetUp({ end: () => end });
  pager.reset({ complete: true });
  assert.equal(asked.length, 0, 'a complete roster asks nothing');
  pager.nearEnd();
  assert.equal(asked.length, 0);

  pager.reset({ complete: false, next: '' });
  assert.deepEqual(asked[0].query, { after: '', limit: ROSTER_PAGE_SIZE });
  pager.nearEnd();
  assert.equal(asked.length, 1, 'one request at a time');
  end = false;
  asked[0].resolve({ members: people('a', 'b'), next: 'b', count: 9 });
  await settle();
  assert.deepEqual(pages, [[['a', 'b'], 9]]);
  assert.equal(asked.length, 1, 'the list fills its box: nothing more yet');
  end = true;
  pager.nearEnd();
  assert.deepEqual(asked[1].query, { after: 'b', limit: ROSTER_PAGE_SIZE });
  asked[1].resolve({ members: people('c'), next: null, count: 9 });
  await settle();
  assert.equal(pager.more, false);
  pager.nearEnd();
  assert.equal(asked.length, 2, 'nothing after the end');
});

test('a search waits for typing to pause, goes one at a time, and drops answers to a search gone', async () => {
  const { clock, asked, pager } = pagerSetUp({ end: () => false });
  pager.reset({ complete: false, next: 'b' });
  pager.search('a');
  pager.search('an');
  assert.equal(asked.length, 0);
  await clock.advance(SEARCH_DEBOUNCE_MS);
  assert.deepEqual(asked.map((a) => a.query), [{ prefix: 'an', limit: ROSTER_PAGE_SIZE }]);
  // Typed on while it is out: the next search waits for the answer.
  pager.search('ann');
  await clock.advance(SEARCH_DEBOUNCE_MS);
  assert.equal(asked.length, 1);
  asked[0].resolve({ members: people('Andy', 'ann'), next: null, count: 9 });
  await settle();
  assert.equal(pager.results(), null, 'the answer for "an" is not shown');
  assert.deepEqual(asked[1].query, { prefix: 'ann', limit: ROSTER_PAGE_SIZE });
  asked[1].resolve({ members: people('ann', 'anna'), next: 'anna', count: 9 });
  await settle();
  assert.deepEqual(pager.results().members.map((m) => m.nick), ['ann', 'anna']);
  pager.departed('anna');
  assert.deepEqual(pager.results().members.map((m) => m.nick), ['ann']);
  // Cleared: the paged list is back at once, without a request.
  pager.search('  ');
  assert.equal(pager.results(), null);
  assert.equal(asked.length, 2);
});

test('a rate-limited page is asked again after the wait the server named', async () => {
  const { clock, asked, pager } = pagerSetUp();
  pager.reset({ complete: false, next: '' });
  asked[0].reject({ code: 'rate_limited', retry_ms: 300 });
  await settle();
  pager.nearEnd();
  assert.equal(asked.length, 1, 'held off');
  await clock.advance(300);
  assert.equal(asked.length, 2);
});

/** A chat on a client whose link is a fake, joined to a room as zed with welcome `w`. */
function chatIn(w, { shown = { on: true } } = {}) {
  const clock = new FakeClock();
  const link = new FakeLink();
  const client = new ParleyClient({
    url: 'http://chat.test/', transport: 'websocket', storage: null, share: false,
    transports: { websocket: () => link.make() },
    io: { ...clock, random: () => 0, randomWords: () => [1, 2] },
  });
  const notices = [];
  const rosters = [];
  const view = new Proxy({}, {
    get: (_, name) => {
      if (name === 'notice') return (text) => { notices.push(plainText(text)); return {}; };
      if (name === 'showRoster') return (...args) => rosters.push(args);
      if (name === 'rosterNearEnd') return () => shown.on;
      if (name === 'rosterShown') return () => shown.on;
      if (name === 'nearTop') return () => false;
      return () => {};
    },
  });
  const chat = createChat({
    client, room: 'hall', typing: { stop() {}, linkLost() {} }, view, address: { showRoom() {}, restoreRoom() {} }, io: clock,
  });
  client.connect();
  link.current.open();
  chat.joinAs('zed');
  link.deliver({
    type: 'welcome', v: 1, minor: 2, nick: 'zed', room: 'hall', session: 's', epoch: 'e', cursor: 0, gap: false, history: [],
    limits: { max_roster_limit: 100, big_room_members: 5 }, ...w,
  });
  return {
    link, chat, notices, rosters,
  };
}

test('in a big room the chat asks its first page, and tells each batch in one counted line', async () => {
  const { link, notices, rosters } = chatIn({ roster: [], roster_next: '', count: 40 });
  const ask = link.sent.find((f) => f.type === 'roster');
  assert.deepEqual(ask, { type: 'roster', after: '', limit: ROSTER_PAGE_SIZE, ref: ask.ref });
  link.deliver({ type: 'roster', ref: ask.ref, members: people('m1', 'm2'), next: 'm2', count: 40 });
  await settle();
  const [shown, count, , options] = rosters.at(-1);
  assert.deepEqual(shown.map((p) => p.nick), ['m1', 'm2']);
  assert.equal(count, 40);
  assert.equal(options.partial, true);
  link.deliver({
    type: 'presence', changes: [{ nick: 'n9', present: true }, { nick: 'm1', present: false }], count: 49, arrived: 12, departed: 3,
  });
  assert.deepEqual(notices, ['12 people joined, 3 left — there are 49 participants']);
  assert.deepEqual(rosters.at(-1)[0].map((p) => p.nick), ['m2', 'n9']);
  assert.equal(rosters.at(-1)[1], 49);
});

test('someone who left unnamed in a big room\'s batch goes from the list: what is listed is asked again', async () => {
  const { link, rosters } = chatIn({ roster: [], roster_next: '', count: 40 });
  const first = link.sent.find((f) => f.type === 'roster');
  // The list is at its end (no next): nothing more is browsed meanwhile.
  link.deliver({ type: 'roster', ref: first.ref, members: people('m1', 'm2', 'm3'), count: 40 });
  await settle();
  const asks = () => link.sent.filter((f) => f.type === 'roster');
  const before = asks().length;
  // Every departure named: the list is right as it is, nothing is asked.
  link.deliver({ type: 'presence', changes: [{ nick: 'm3', present: false }], count: 39, arrived: 0, departed: 1 });
  await settle();
  assert.equal(asks().length, before);
  assert.deepEqual(rosters.at(-1)[0].map((p) => p.nick), ['m1', 'm2']);

  // Two left, one named: m2 may be gone too; the list is asked again from its start.
  link.deliver({ type: 'presence', changes: [{ nick: 'x1', present: false }], count: 37, arrived: 0, departed: 2 });
  await settle();
  const again = asks().at(-1);
  assert.equal(asks().length, before + 1);
  assert.deepEqual(again, { type: 'roster', after: '', limit: ROSTER_PAGE_SIZE, ref: again.ref });
  // More batches meanwhile: still one request at a time.
  link.deliver({ type: 'presence', changes: [], count: 36, arrived: 0, departed: 1 });
  await settle();
  assert.equal(asks().length, before + 1);
  link.deliver({ type: 'roster', ref: again.ref, members: people('m1', 'm4'), count: 37 });
  await settle();
  assert.deepEqual(rosters.at(-1)[0].map((p) => p.nick), ['m1', 'm4'], 'm2 is gone from the list');
  // The batch that came meanwhile is asked for once that answer is in.
  assert.equal(asks().length, before + 2);
});

test('a folded roster in a big room is asked again when it opens, not before', async () => {
  const shown = { on: true };
  const { link, chat, rosters } = chatIn({ roster: [], roster_next: '', count: 40 }, { shown });
  const first = link.sent.find((f) => f.type === 'roster');
  link.deliver({ type: 'roster', ref: first.ref, members: people('m1', 'm2'), count: 40 });
  await settle();
  shown.on = false;
  const asks = () => link.sent.filter((f) => f.type === 'roster').length;
  const before = asks();
  link.deliver({ type: 'presence', changes: [], count: 38, arrived: 0, departed: 2 });
  await settle();
  assert.equal(asks(), before, 'nobody sees the list: nothing asked');
  shown.on = true;
  chat.rosterOpened();
  await settle();
  assert.equal(asks(), before + 1, 'opened: asked again');
  assert.equal(rosters.at(-1)[1], 38);
});

test('below the big-room size the roster is complete and arrivals are told by name', () => {
  const { link, notices, rosters } = chatIn({ roster: people('zed', 'bob'), count: 2 });
  assert.equal(link.sent.some((f) => f.type === 'roster'), false);
  link.deliver({ type: 'joined', nick: 'cy', count: 3 });
  assert.deepEqual(notices, ['cy joined — there are 3 participants']);
  assert.deepEqual(rosters.at(-1)[0].map((p) => p.nick), ['zed', 'bob', 'cy']);
  assert.deepEqual(rosters.at(-1)[3], { note: '', partial: false });
});
