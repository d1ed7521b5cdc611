// Tabs of one browser sharing their connection (clients/js/tab-link.js and
// hub.js) on fake Web Locks, fake BroadcastChannels, fake transports and a
// fake clock: one leader holds the one real connection; a follower's
// messages go through it and are acknowledged to the tab that sent them;
// when the leader goes, another tab takes over by resuming (its join
// carries resume, since and epoch), nobody is told twice; without Web
// Locks every client connects by itself.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { ParleyClient } from '../../clients/js/parley-client.js';
import { tabLink } from '../../clients/js/tab-link.js';
import { LEADER_ANSWER_MS } from '../../clients/js/leader-watch.js';
import {
  FakeChannels, FakeClock, FakeLink, FakeLocks, settle,
} from './fakes.mjs';

const URL = 'https://chat.test/';

/** A browser: its tabs share locks and channels; every real connection is a fake on `server`. */
function browser() {
  const clock = new FakeClock();
  const locks = new FakeLocks();
  const channels = new FakeChannels();
  const server = new FakeLink();
  let tabs = 0;

  /** A new tab with a client of the server (not yet connected). */
  function openTab({ room = 'lobby', share = true } = {}) {
    tabs += 1;
    const tabLocks = locks.tab();
    const Channel = channels.tab();
    const page = new EventTarget();
    let words = tabs * 1000;
    const client = new ParleyClient({
      url: URL,
      room,
      transport: 'websocket',
      storage: null,
      share,
      locks: tabLocks,
      BroadcastChannel: Channel,
      page,
      transports: { websocket: () => server.make() },
      io: { ...clock, random: () => 0, randomWords: () => { words += 1; return [words, words]; } },
    });
    const events = [];
    for (const name of ['welcome', 'message', 'ack', 'presence', 'error', 'close', 'status']) {
      client.on(name, (detail) => events.push([name, detail]));
    }
    const of = (name) => events.filter(([n]) => n === name).map(([, detail]) => detail);
    return {
      client,
      events,
      of,
      link: () => tabLink({ url: 'https://chat.test', locks: tabLocks }),
      /** The tab closes: pagehide, then the browser drops its locks and channels. */
      close() {
        page.dispatchEvent(new Event('pagehide'));
        client.disconnect();
        tabLocks.close();
        Channel.closeAll();
      },
      /** The tab dies without a word. */
      crash() {
        tabLocks.close();
        Channel.closeAll();
      },
      /** The tab's page is frozen (or hung): it keeps its locks and hears nothing. */
      freeze: () => Channel.freeze(),
      /** It wakes and hears what waited. */
      thaw: () => Channel.thaw(),
    };
  }
  return { clock, server, openTab };
}

const welcome = (over = {}) => ({
  type: 'welcome', v: 1, minor: 2, nick: 'ann', room: 'lobby', session: 'tok-1', epoch: 'e1', cursor: 0,
  gap: false, history: [], roster: [{ nick: 'ann' }], count: 1, limits: { max_message_chars: 2000 }, ...over,
});

const message = (id, nick, text) => ({ type: 'message', id, nick, text, ts: 1700000000000 + id });

const joins = (link) => link.sent.filter((frame) => frame.type === 'join');
const says = (link) => link.sent.filter((frame) => frame.type === 'say');

/** Lets messages hop between tabs (each hop is a turn of the event loop). */
async function hops() {
  await settle();
  await settle();
}

/** Two tabs in the lobby, ann's, both joined over the one real connection. */
async function twoJoined() {
  const world = browser();
  const { server } = world;
  const first = world.openTab();
  const second = world.openTab();
  first.client.connect();
  second.client.connect();
  await hops();
  assert.equal(server.made, 1, 'one real connection');
  server.current.open();
  await hops();
  const firstJoin = first.client.join({ nick: 'ann', room: 'lobby' });
  await hops();
  assert.deepEqual(joins(server), [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby' }]);
  server.deliver(welcome({ cursor: 2, history: [message(1, 'bob', 'one'), message(2, 'bob', 'two')] }));
  await hops();
  await firstJoin;
  // The second tab pre-fills another name: it joins as the member all the same.
  const secondJoin = second.client.join({ nick: 'Ann', room: 'lobby' });
  await hops();
  assert.deepEqual(joins(server).at(-1), { type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby' }, 'a re-sync under the member\'s name');
  server.deliver(welcome({ cursor: 2, history: [message(1, 'bob', 'one'), message(2, 'bob', 'two')] }));
  await hops();
  await secondJoin;
  return { ...world, first, second };
}

test('one tab leads and holds the only connection; every tab gets its own welcome', async () => {
  const { first, second, server } = await twoJoined();
  assert.equal(first.link().leading, true);
  assert.equal(second.link().leading, false);
  assert.equal(server.made, 1);
  for (const tab of [first, second]) {
    assert.equal(tab.client.joined, true);
    assert.equal(tab.client.nick, 'ann');
    assert.equal(tab.client.transport, 'websocket');
    assert.equal(tab.client.shared, true);
    assert.deepEqual(tab.of('welcome')[0].history.map((m) => m.id), [1, 2], 'each tab its own history');
    assert.equal(tab.of('welcome').length, 1);
  }
  // Room frames reach every tab, once.
  server.deliver(message(3, 'bob', 'three'));
  server.deliver({ type: 'joined', nick: 'cy', count: 3 });
  await hops();
  for (const tab of [first, second]) {
    assert.deepEqual(tab.of('message').map((m) => m.id), [3]);
    assert.deepEqual(tab.of('presence').map((p) => p.nick), ['cy']);
  }
});

test('a follower\'s message goes through the leader and is acknowledged to it alone', async () => {
  const { first, second, server } = await twoJoined();
  const said = second.client.say('from the second tab');
  await hops();
  const frame = says(server).at(-1);
  assert.equal(frame.text, 'from the second tab');
  assert.equal(frame.ref, said.ref, 'the tab\'s own ref goes to the server');
  server.deliver(message(3, 'ann', 'from the second tab'));
  server.deliver({ type: 'ack', ref: said.ref, id: 3 });
  await hops();
  assert.deepEqual(await said, { ref: said.ref, id: 3 });
  assert.deepEqual(second.of('ack').map((a) => a.id), [3]);
  assert.deepEqual(first.of('ack'), [], 'the other tab hears no ack');
  assert.equal(first.of('message')[0].own, true, 'the other tab sees it as its member\'s');
  assert.equal(second.of('message')[0].ref, said.ref);

  // A refusal with the ref goes to the sender only.
  const bad = first.client.say('\u0007');
  await hops();
  server.deliver({ type: 'error', code: 'invalid_text', message: 'control characters', ref: bad.ref });
  await hops();
  await assert.rejects(bad, { code: 'invalid_text' });
  assert.deepEqual(second.of('error'), []);

  // History pages: the hub's refs are its own, each answer goes to its asker.
  const page = second.client.history({ before: 2, limit: 1 });
  await hops();
  const asked = server.sent.at(-1);
  assert.equal(asked.type, 'history');
  assert.notEqual(asked.ref, 'h1');
  server.deliver({ type: 'history', ref: asked.ref, before: 2, messages: [message(1, 'bob', 'one')], more: false });
  await hops();
  assert.deepEqual((await page).messages.map((m) => m.id), [1]);
});

test('a roster page goes back to the tab that asked, under its own ref', async () => {
  const { first, second, server } = await twoJoined();
  const firstPage = first.client.roster({ limit: 2 });
  const secondPage = second.client.roster({ prefix: 'b', limit: 2 });
  await hops();
  const [askFirst, askSecond] = server.sent.filter((f) => f.type === 'roster');
  assert.notEqual(askFirst.ref, askSecond.ref, 'the hub makes the refs unique');
  assert.equal(askSecond.prefix, 'b');
  server.deliver({ type: 'roster', ref: askSecond.ref, members: [{ nick: 'bob', typing: false }], count: 2 });
  server.deliver({ type: 'error', code: 'rate_limited', message: 'slow down', retry_ms: 100, ref: askFirst.ref });
  await hops();
  assert.deepEqual((await secondPage).members, [{ nick: 'bob', typing: false }]);
  await assert.rejects(firstPage, { code: 'rate_limited' });
  assert.deepEqual(second.of('error'), []);
  assert.deepEqual(first.of('error'), []);
});

test('a join refused for its minor by an older server goes again without it through the hub', async () => {
  const world = browser();
  const { server } = world;
  const tab = world.openTab();
  tab.client.connect();
  await hops();
  server.current.open();
  await hops();
  const joined = tab.client.join({ nick: 'ann', room: 'lobby' });
  await hops();
  server.deliver({ type: 'error', code: 'bad_frame', message: 'unknown field `minor`' });
  await hops();
  assert.deepEqual(joins(server).at(-1), { type: 'join', v: 1, nick: 'ann', room: 'lobby' });
  server.deliver(welcome({ minor: 1 }));
  await hops();
  assert.equal((await joined).nick, 'ann');
});

test('a tab leaving a room others are in is told alone; the last one leaves for real', async () => {
  const { first, second, server } = await twoJoined();
  const left = [];
  second.client.on('left', (l) => left.push(l.room));
  second.client.leave();
  await hops();
  assert.equal(server.sent.filter((f) => f.type === 'leave').length, 0, 'the member stays');
  assert.deepEqual(left, ['lobby']);
  server.deliver(message(3, 'bob', 'still here'));
  await hops();
  assert.deepEqual(first.of('message').map((m) => m.id), [3]);
  assert.deepEqual(second.of('message'), [], 'a tab that left hears nothing more of the room');
  first.client.leave();
  await hops();
  assert.equal(server.sent.filter((f) => f.type === 'leave').length, 1);
});

test('the leader tab goes: another takes over by resuming, nobody leaves, nothing is told twice', async () => {
  const world = browser();
  const { server } = world;
  const tabs = [world.openTab(), world.openTab(), world.openTab()];
  for (const tab of tabs) tab.client.connect();
  await hops();
  server.current.open();
  await hops();
  const [leader, second, third] = tabs;
  leader.client.join({ nick: 'ann' });
  await hops();
  server.deliver(welcome({ cursor: 5 }));
  await hops();
  for (const tab of [second, third]) {
    tab.client.join({ nick: 'ann' });
    await hops();
    server.deliver(welcome({ cursor: 5 }));
    await hops();
  }
  server.deliver(message(6, 'bob', 'six'));
  await hops();
  // A message of the second tab is on its way when the leader goes.
  const inFlight = second.client.say('mid-handover');
  await hops();
  assert.equal(says(server).at(-1).ref, inFlight.ref);
  const before = server.current;
  const joinsBefore = joins(server).length;

  leader.close();
  await hops();
  assert.equal(before.closed, true, 'the old connection is closed');
  assert.equal(server.made, 2, 'the new leader opened the one new connection');
  assert.equal(second.link().leading !== third.link().leading, true, 'one of the others leads');
  server.current.open();
  await hops();
  // The first rejoin resumes the member; the other is a re-sync.
  const [resume, resync] = joins(server).slice(joinsBefore);
  assert.deepEqual(resume, {
    type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 6, epoch: 'e1', resume: 'tok-1',
  });
  assert.equal(resync, undefined, 'one join at a time');
  server.deliver(welcome({ cursor: 7, history: [message(6, 'bob', 'six'), message(7, 'ann', 'mid-handover')] }));
  await hops();
  const next = joins(server).at(-1);
  assert.equal(next.since, 6);
  assert.equal(next.resume, undefined, 'a re-sync needs no token');
  server.deliver(welcome({ cursor: 7, history: [message(6, 'bob', 'six'), message(7, 'ann', 'mid-handover')] }));
  await hops();

  for (const tab of [second, third]) {
    assert.deepEqual(tab.of('message').map((m) => m.id), [6], 'no message twice');
    const rejoined = tab.of('welcome').at(-1);
    assert.equal(rejoined.handover, true);
    assert.deepEqual(rejoined.history.map((m) => m.id), [7]);
    assert.deepEqual(tab.of('close'), [], 'no close is told');
    assert.equal(tab.of('status').some((s) => s.state === 'reconnecting'), false);
  }
  // The message in flight goes again with its ref; the server only acks it.
  assert.equal(says(server).at(-1).ref, inFlight.ref);
  server.deliver({ type: 'ack', ref: inFlight.ref, id: 7 });
  await hops();
  assert.deepEqual(await inFlight, { ref: inFlight.ref, id: 7 });
});

test('a leader that crashes is replaced when its lock passes', async () => {
  const world = browser();
  const { server } = world;
  const leader = world.openTab();
  const follower = world.openTab();
  leader.client.connect();
  follower.client.connect();
  await hops();
  server.current.open();
  await hops();
  follower.client.join({ nick: 'ann' });
  await hops();
  server.deliver(welcome({ cursor: 3 }));
  await hops();
  leader.crash();
  await hops();
  assert.equal(follower.link().leading, true);
  assert.equal(server.made, 2);
  server.current.open();
  await hops();
  assert.deepEqual(joins(server).at(-1), {
    type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 3, epoch: 'e1', resume: 'tok-1',
  });
});

test('a leader that stops answering is replaced: the follower takes the lock and resumes', async () => {
  const world = browser();
  const { server, clock } = world;
  const leader = world.openTab();
  const follower = world.openTab();
  leader.client.connect();
  follower.client.connect();
  await hops();
  server.current.open();
  await hops();
  follower.client.join({ nick: 'ann' });
  await hops();
  server.deliver(welcome({ cursor: 3 }));
  await hops();
  const frozen = server.current;

  leader.freeze();
  const said = follower.client.say('while it sleeps');
  await hops();
  assert.equal(follower.link().leading, false, 'it waits for the leader first');
  await clock.advance(LEADER_ANSWER_MS - 1);
  assert.equal(follower.link().leading, false, 'still within the bound');
  await clock.advance(1);
  assert.equal(follower.link().leading, true, 'no answer in time: it took the lead');
  assert.equal(server.made, 2, 'and opened a connection of its own');
  server.current.open();
  await hops();
  assert.deepEqual(joins(server).at(-1), {
    type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 3, epoch: 'e1', resume: 'tok-1',
  }, 'it resumes the member the silent leader held');
  server.deliver(welcome({ cursor: 3 }));
  await hops();
  const resent = says(server).at(-1);
  assert.equal(resent.text, 'while it sleeps');
  server.deliver({ type: 'ack', ref: resent.ref, id: 4 });
  await hops();
  assert.deepEqual(await said, { ref: resent.ref, id: 4 });
  assert.deepEqual(follower.of('close'), [], 'no close is told');
  assert.deepEqual(follower.of('error'), []);

  // The old leader wakes: it hears of the new hub, steps down and lets its connection go.
  leader.thaw();
  await hops();
  assert.equal(leader.link().leading, false);
  assert.equal(frozen.closed, true);
  assert.equal(follower.link().leading, true);
  // Whatever the old hub says on waking, the follower goes on chatting.
  server.deliver(message(5, 'bob', 'after'));
  await hops();
  assert.equal(follower.of('message').at(-1).id, 5);
  assert.deepEqual(follower.of('close'), []);
});

test('a leader that answers is not replaced, however long its connection takes', async () => {
  const world = browser();
  const { server, clock } = world;
  const leader = world.openTab();
  const follower = world.openTab();
  leader.client.connect();
  follower.client.connect();
  await hops();
  // The server is away: the connection does not open for a long while.
  await clock.advance(LEADER_ANSWER_MS * 10);
  assert.equal(leader.link().leading, true);
  assert.equal(follower.link().leading, false);
  assert.equal(server.made, 1);
});

test('a follower that closes leaves the room only when it was the last tab in it', async () => {
  const { first, second, server } = await twoJoined();
  second.close();
  await hops();
  assert.equal(server.current.closed, false, 'the first tab still uses it');
  assert.equal(server.sent.filter((f) => f.type === 'leave').length, 0);
  first.client.disconnect();
  await hops();
  assert.equal(server.current.closed, true, 'no tab uses it: closed, the member leaves');
});

test('tabs in different rooms get a connection per room, and a switch moves only its tab', async () => {
  const world = browser();
  const { server } = world;
  const lobby = world.openTab();
  const kitchen = world.openTab({ room: 'kitchen' });
  lobby.client.connect();
  await hops();
  const lobbyLink = server.current;
  lobbyLink.open();
  kitchen.client.connect();
  await hops();
  assert.equal(server.made, 2, 'one connection per room');
  const kitchenLink = server.current;
  kitchenLink.open();
  await hops();
  lobby.client.join({ nick: 'ann' });
  kitchen.client.join({ nick: 'ann' });
  await hops();
  assert.deepEqual(joins(server).map((j) => j.room), ['lobby', 'kitchen']);
  lobbyLink.onframe(welcome());
  kitchenLink.onframe(welcome({ room: 'kitchen', session: 'tok-2' }));
  await hops();
  assert.equal(kitchen.client.room, 'kitchen');

  // The kitchen tab moves to the lobby: a re-sync there; the kitchen is left.
  kitchen.client.join({ room: 'lobby' });
  await hops();
  const moved = joins(server).at(-1);
  assert.deepEqual([moved.room, moved.resume], ['lobby', undefined]);
  lobbyLink.onframe(welcome());
  await hops();
  assert.equal(kitchen.client.room, 'lobby');
  assert.equal(kitchenLink.closed, true, 'nobody uses the kitchen connection any more');
  assert.equal(lobbyLink.closed, false);
  lobbyLink.onframe(message(1, 'bob', 'to both'));
  await hops();
  assert.deepEqual(kitchen.of('message').map((m) => m.id), [1]);
  assert.deepEqual(lobby.of('message').map((m) => m.id), [1]);
});

test('a rename in one tab renames the member in every tab', async () => {
  const { first, second, server } = await twoJoined();
  const renaming = second.client.rename('annie');
  await hops();
  assert.deepEqual(server.sent.at(-1), { type: 'nick', nick: 'annie' });
  server.deliver({ type: 'renamed', old: 'ann', new: 'annie' });
  await hops();
  assert.equal((await renaming).new, 'annie');
  assert.equal(first.client.nick, 'annie');
  // A refused rename answers the tab that asked.
  const refused = first.client.rename('bob');
  await hops();
  server.deliver({ type: 'error', code: 'nick_taken', message: 'the nickname bob is taken' });
  await hops();
  await assert.rejects(refused, { code: 'nick_taken' });
  assert.deepEqual(second.of('error'), []);
});

test('without Web Locks (or with share: false) every client connects by itself', async () => {
  const links = new FakeLink();
  const bare = new ParleyClient({
    url: URL, storage: null, transport: 'websocket', locks: null, BroadcastChannel: undefined,
    transports: { websocket: () => links.make() },
  });
  assert.equal(bare.shared, false);
  const world = browser();
  const optedOut = world.openTab({ share: false });
  const other = world.openTab({ share: false });
  assert.equal(optedOut.client.shared, false);
  optedOut.client.connect();
  other.client.connect();
  bare.connect();
  await hops();
  assert.equal(world.server.made, 2, 'a connection each');
  assert.equal(links.made, 1);
  optedOut.client.close();
  other.client.close();
  bare.close();
});
