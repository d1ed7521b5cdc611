// The page's chat (assets/js/chat.js) on the real client library, whose
// link is a fake transport: frames from the server are fed in, and the
// test watches what goes out and what the page draws.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { ParleyClient } from '../../clients/js/parley-client.js';
import { createChat } from '../../assets/js/chat.js';
import { createTypingReporter } from '../../assets/js/typing.js';
import { FakeClock, FakeLink, settle } from './fakes.mjs';
import { plainText } from '../../assets/js/sentence.js';

/** A view that records every call; pending items are plain objects. */
function fakeView() {
  const calls = [];
  const view = {
    calls,
    items: [],
    addPending(ref, text, nick) {
      calls.push(['addPending', ref, text, nick]);
      const item = { ref, text, nick, removed: false, failed: null };
      view.items.push(item);
      return item;
    },
    dropItem(item) { calls.push(['dropItem', item.ref]); item.removed = true; },
    markFailed(item, why) { calls.push(['markFailed', item.ref, why]); item.failed = why; },
    notice(text, kind) { calls.push(['notice', text, kind]); return { text, kind }; },
    /** A notice reworded in place: ['reword', its old text (null: none), text, kind]. */
    reword(line, text, kind) {
      calls.push(['reword', line ? line.text : null, text, kind]);
      return line ? Object.assign(line, { text, kind }) : { text, kind };
    },
    /** The calls named `name`, without the name. */
    of(name) { return calls.filter((call) => call[0] === name).map((call) => call.slice(1)); },
    notices() { return view.of('notice').map(([text, kind]) => (kind ? `${kind}: ${plainText(text)}` : plainText(text))); },
    clear() { calls.length = 0; },
  };
  for (const name of [
    'addMessage', 'resetMessages', 'scrollToEnd', 'scrollIfFollowing', 'showRoster',
    'showTyping', 'showRoom', 'noteUnread', 'showChat', 'showLogin', 'markRosterStale', 'showDegraded',
    'nearTop', 'prependMessages', 'showBeginning', 'showSlowDown', 'showConnState', 'showTransport',
    'showRefused', 'showJoinStatus', 'showEmptyRoom', 'rosterNearEnd',
  ]) {
    view[name] = (...args) => { calls.push([name, ...args]); };
  }
  return view;
}

/**
 * A chat on a client whose link is open (unless `open` is false: then not
 * even connected). `session` is the chat, plus handle(frame),
 * linkOpened() and linkClosed(code), which act on the fake link.
 */
function setUp({ room = 'lobby', open = true, onCommand } = {}) {
  const clock = new FakeClock();
  const link = new FakeLink();
  let words = 0;
  const client = new ParleyClient({
    url: 'http://chat.test/',
    transport: 'websocket',
    storage: null,
    transports: { websocket: () => link.make() },
    io: { ...clock, random: () => 0, randomWords: () => { words += 1; return [words, words]; } },
  });
  const view = fakeView();
  const addressed = [];
  const address = {
    showRoom: (to) => addressed.push(['show', to]),
    restoreRoom: (to) => addressed.push(['restore', to]),
  };
  const remembered = [];
  const limits = [];
  let chat = null;
  const typing = createTypingReporter({ signal: (on) => client.typing(on), joined: () => chat.isJoined(), io: clock });
  chat = createChat({
    client,
    room,
    typing,
    view,
    address,
    remember: (nick) => remembered.push(nick),
    onLimits: (given) => limits.push(given),
    onCommand,
    io: clock,
  });
  const session = Object.assign(Object.create(chat), {
    handle: (frame) => link.deliver(frame),
    linkOpened: () => link.openAnew(client),
    linkClosed: (code) => link.drop(code),
  });
  if (open) {
    client.connect();
    link.current.open();
  }
  return { clock, sent: link.sent, link, client, view, address, addressed, remembered, limits, session, typing };
}

const welcome = (over = {}) => ({
  type: 'welcome',
  nick: 'ann',
  room: 'lobby',
  session: 'resume-1',
  epoch: 'e1',
  cursor: 0,
  gap: false,
  history: [],
  roster: [{ nick: 'ann' }, { nick: 'bob', typing: true }],
  count: 2,
  limits: { max_message_chars: 2000, max_frame_bytes: 8192 },
  ...over,
});

const message = (id, nick, text) => ({ type: 'message', id, nick, text, ts: 1700000000000 + id });

/** Joins as ann and delivers `w`. */
function joined(setup, w = welcome()) {
  setup.session.joinAs('ann');
  setup.session.handle(w);
  setup.sent.length = 0;
  setup.view.clear();
}

test('nothing is sent when a link opens before the user asked to join', () => {
  const { session, sent } = setUp();
  session.linkOpened();
  assert.deepEqual(sent, []);
});

test('the nickname form sends a first join, or reconnects when no link is open', () => {
  const setup = setUp({ room: 'kitchen' });
  setup.session.joinAs('ann');
  assert.deepEqual(setup.sent, [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'kitchen' }]);
  assert.equal(setup.session.isAwaitingWelcome(), true);

  const offline = setUp({ open: false });
  offline.session.joinAs('ann');
  assert.deepEqual(offline.sent, []);
  assert.equal(offline.link.made, 1, 'joining connects');
  offline.session.linkOpened();
  assert.equal(offline.sent[0].nick, 'ann');
});

test('a welcome shows the chat, its history and roster, and tells the link', () => {
  const setup = setUp();
  const { session, view, client, remembered, limits, addressed } = setup;
  session.joinAs('ann');
  session.handle(welcome({ history: [message(1, 'bob', 'hi'), message(2, 'ann', 'hello')], cursor: 2 }));
  assert.deepEqual(view.of('addMessage').map(([m, own]) => [m.id, own]), [[1, false], [2, true]]);
  assert.deepEqual(view.of('showRoster').at(-1), [[{ nick: 'ann', typing: false }, { nick: 'bob', typing: true }], 2, 'ann', { note: '', partial: false }]);
  assert.deepEqual(view.of('showTyping').at(-1), [['bob']]);
  assert.deepEqual(view.of('showRoom').at(-1), ['lobby']);
  assert.deepEqual(view.of('markRosterStale'), [[false]]);
  assert.equal(view.of('showChat').length, 1);
  assert.deepEqual(view.of('resetMessages'), [[[]]]);
  assert.deepEqual(addressed, [['show', 'lobby']]);
  assert.equal(client.status.state, 'connected');
  assert.deepEqual(remembered, ['ann']);
  assert.deepEqual(limits, [{ max_message_chars: 2000, max_frame_bytes: 8192 }]);
  assert.equal(session.isJoined(), true);
  assert.equal(session.isAwaitingWelcome(), false);
  assert.deepEqual(view.notices(), [], 'a first join says nothing');
});

test('a message at or below the highest id shown is a duplicate', () => {
  const setup = setUp();
  joined(setup, welcome({ history: [message(4, 'bob', 'four')], cursor: 5 }));
  const { session, view } = setup;
  for (const id of [3, 4, 5]) session.handle(message(id, 'bob', 'old'));
  session.handle(message(6, 'bob', 'six'));
  session.handle(message(6, 'bob', 'six again'));
  session.handle({ ...message(7, 'bob', 'bad id'), id: '7' });
  session.handle(message(8, 'bob', 'eight'));
  assert.deepEqual(view.of('addMessage').map(([m]) => m.text), ['six', 'eight']);
  assert.equal(view.of('scrollIfFollowing').length, 2, 'every message shown keeps the list at its end');
  assert.deepEqual(view.of('noteUnread'), [['lobby', false], ['lobby', false]]);
});

test('a rejoin after a drop carries since, epoch and resume, and says Reconnected', () => {
  const setup = setUp();
  joined(setup, welcome({ history: [message(9, 'bob', 'nine')], cursor: 9 }));
  const { session, sent, view } = setup;
  session.handle(message(10, 'bob', 'ten'));
  session.linkClosed(1006);
  assert.equal(session.isJoined(), false);
  assert.deepEqual(view.notices(), ['Connection lost; reconnecting…']);
  assert.deepEqual(view.of('markRosterStale'), [[true]]);
  session.linkOpened();
  assert.deepEqual(sent, [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 10, epoch: 'e1', resume: 'resume-1' }]);
  view.clear();
  session.handle(welcome({ session: 'resume-2', cursor: 11, history: [message(10, 'bob', 'ten'), message(11, 'cy', 'eleven')] }));
  assert.deepEqual(view.of('addMessage').map(([m]) => m.id), [11]);
  assert.deepEqual(view.notices(), [], 'no second line');
  assert.deepEqual(view.of('reword'), [['Connection lost; reconnecting…', 'Reconnected.', undefined]]);
  assert.deepEqual(view.of('resetMessages'), [], 'the same room keeps its list');
});

test('a handover to another tab shows nothing: no lost connection, no Reconnected', () => {
  const setup = setUp();
  joined(setup, welcome({ cursor: 9 }));
  const { session, sent, view } = setup;
  session.linkClosed(4100);
  session.linkOpened();
  assert.deepEqual(sent, [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'lobby', since: 9, epoch: 'e1', resume: 'resume-1' }]);
  session.handle(welcome({ cursor: 10, history: [message(10, 'bob', 'ten')] }));
  assert.deepEqual(view.of('addMessage').map(([m]) => m.id), [10]);
  assert.deepEqual(view.notices(), []);
  assert.deepEqual(view.of('markRosterStale'), [[false]], 'the roster never went stale');
  assert.equal(view.of('showConnState').some(([s]) => s.kind !== 'connected'), false);
});

test('a rejoin answered from another numbering starts the ids again and warns', () => {
  const setup = setUp();
  joined(setup, welcome({ cursor: 40 }));
  const { session, view } = setup;
  session.linkClosed(1001);
  session.linkOpened();
  view.clear();
  session.handle(welcome({ epoch: 'e2', cursor: 1, history: [message(1, 'bob', 'new one')] }));
  assert.deepEqual(view.of('addMessage').map(([m]) => m.text), ['new one']);
  assert.deepEqual(view.notices(), []);
  assert.deepEqual(view.of('reword'), [[
    'Connection lost; reconnecting…',
    'Reconnected. The server lost this room\'s history, so some messages may be missing.',
    'error',
  ]]);
});

test('a welcome with a gap says, in the one reconnect line, that messages may be missing', () => {
  const setup = setUp();
  joined(setup);
  setup.session.linkClosed(1006);
  setup.session.linkOpened();
  setup.view.clear();
  setup.session.handle(welcome({ gap: true }));
  assert.deepEqual(setup.view.notices(), []);
  assert.deepEqual(setup.view.of('reword'), [['Connection lost; reconnecting…', 'Reconnected. Some messages may be missing.', undefined]]);
});

test('two drops before the rejoin still leave one line', () => {
  const setup = setUp();
  joined(setup);
  setup.session.linkClosed(1006);
  setup.session.linkOpened();
  setup.session.linkClosed(1006);
  setup.session.linkOpened();
  setup.session.handle(welcome());
  assert.deepEqual(setup.view.notices(), ['Connection lost; reconnecting…']);
  assert.equal(setup.view.of('reword').length, 1);
});

test('after a reconnect, others coming back are not announced as joining; newcomers are', async () => {
  const setup = setUp();
  joined(setup, welcome({ roster: [{ nick: 'ann' }, { nick: 'bob' }, { nick: 'cy' }], count: 3 }));
  const { session, view, clock } = setup;
  session.linkClosed(1006);
  session.linkOpened();
  // A restarted server knows only us at first; the others come back one by one.
  session.handle(welcome({ roster: [{ nick: 'ann' }], count: 1, epoch: 'e2' }));
  view.clear();
  session.handle({ type: 'joined', nick: 'bob', count: 2 });
  session.handle({ type: 'presence', changes: [{ nick: 'cy', present: true }, { nick: 'dee', present: true }], count: 4 });
  session.handle({ type: 'joined', nick: 'eve', count: 5 });
  assert.deepEqual(view.notices(), ['1 joined — there are 4 participants', 'eve joined — there are 5 participants']);
  assert.deepEqual(view.of('showRoster').at(-1)[0].map((p) => p.nick), ['ann', 'bob', 'cy', 'dee', 'eve']);
  // Someone who leaves and comes back later is announced again.
  session.handle({ type: 'left', nick: 'bob', count: 4 });
  await clock.advance(61_000);
  view.clear();
  session.handle({ type: 'joined', nick: 'bob', count: 5 });
  assert.deepEqual(view.notices(), ['bob joined — there are 5 participants']);
});

test('Join says it waits for the server while the link is down, and clears on the welcome', () => {
  const setup = setUp({ open: false });
  setup.session.joinAs('ann');
  assert.deepEqual(setup.view.of('showJoinStatus').at(-1), ['Waiting for the server…']);
  setup.session.linkOpened();
  assert.deepEqual(setup.view.of('showJoinStatus').at(-1), ['Joining…']);
  setup.session.handle(welcome());
  assert.deepEqual(setup.view.of('showJoinStatus').at(-1), ['']);
});

test('a room refused on the nickname screen is reported against the room', () => {
  const setup = setUp({ room: 'vip' });
  setup.session.joinAs('ann');
  setup.session.handle({ type: 'error', code: 'room_full', message: 'full' });
  assert.deepEqual(setup.view.of('showLogin'), [['Could not join #vip: it is full. Try again later, or join another room.', 'ann', 'room']]);
  assert.deepEqual(setup.view.of('showJoinStatus').at(-1), ['']);
});

test('an empty room is greeted; a room with history is not', () => {
  const empty = setUp({ room: 'quiet' });
  joined(empty, welcome({ room: 'quiet' }));
  const setup = setUp();
  setup.session.joinAs('ann');
  setup.session.handle(welcome({ room: 'quiet' }));
  assert.deepEqual(setup.view.of('showEmptyRoom'), [['quiet', { recent: false }]]);
  const busy = setUp();
  busy.session.joinAs('ann');
  busy.session.handle(welcome({ history: [message(1, 'bob', 'hi')], cursor: 1 }));
  assert.deepEqual(busy.view.of('showEmptyRoom'), []);
});

test('messages go one at a time: the next leaves when the previous is acknowledged', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view } = setup;
  session.say('one');
  session.say('two');
  assert.deepEqual(view.of('addPending').map(([, text, nick]) => [text, nick]), [['one', 'ann'], ['two', 'ann']]);
  assert.equal(sent.length, 1);
  const [first] = sent;
  assert.equal(first.type, 'say');
  assert.equal(first.text, 'one');
  assert.match(first.ref, /^c1-/);
  // Our message comes back before its ack: the placeholder gives way to it.
  session.handle(message(1, 'ann', 'one'));
  assert.equal(view.items[0].removed, true);
  session.handle({ type: 'ack', ref: first.ref });
  assert.equal(sent.length, 2);
  assert.equal(sent[1].text, 'two');
  assert.notEqual(sent[1].ref, first.ref);
  session.handle({ type: 'ack', ref: sent[1].ref });
  assert.equal(view.items[1].removed, true);
  session.handle({ type: 'ack', ref: 'unknown' });
  assert.equal(sent.length, 2);
});

test('a rate-limited message waits retry_ms and goes again with the same ref', async () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, clock, view } = setup;
  session.say('hello');
  const { ref } = sent[0];
  session.handle({ type: 'error', code: 'rate_limited', message: 'slow down', ref, retry_ms: 1500 });
  assert.equal(sent.length, 1);
  await clock.advance(1499);
  assert.equal(sent.length, 1);
  await clock.advance(1);
  assert.deepEqual(sent[1], { type: 'say', text: 'hello', ref });
  assert.deepEqual(view.notices(), []);
});

test('a message refused for any other reason fails; not_joined keeps it for the next welcome', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view } = setup;
  session.say('a');
  session.handle({ type: 'error', code: 'not_joined', message: 'join first', ref: sent[0].ref });
  assert.equal(view.items[0].failed, null);
  session.linkClosed(1006);
  session.linkOpened();
  session.handle(welcome());
  const resent = sent.filter((frame) => frame.type === 'say');
  assert.equal(resent.length, 2);
  assert.equal(resent[1].ref, resent[0].ref);
  session.handle({ type: 'error', code: 'invalid_text', message: 'message holds control characters', ref: resent[1].ref });
  assert.equal(view.items[0].failed, 'That message holds control characters, which cannot be sent; remove them.');
});

test('a link closed for a too-large frame fails the message in flight instead of resending it', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view } = setup;
  session.say('huge');
  session.linkClosed(1009);
  assert.equal(view.items[0].failed, 'It was too large to send.');
  session.linkOpened();
  session.handle(welcome());
  assert.equal(sent.filter((frame) => frame.type === 'say').length, 1);
});

test('a join refused with a join error goes back to the nickname screen', () => {
  const setup = setUp();
  setup.session.joinAs('ann');
  setup.session.handle({ type: 'error', code: 'nick_taken', message: 'the nickname ann is taken in lobby' });
  assert.deepEqual(setup.view.of('showLogin'), [['“ann” is already taken in #lobby. Please choose another.', 'ann', 'nick']]);
  assert.equal(setup.session.isAwaitingWelcome(), false);
  // It no longer wants a room: a new link does not join by itself.
  setup.sent.length = 0;
  setup.session.linkOpened();
  assert.deepEqual(setup.sent, []);
});

test('a refused switch of rooms stays in the room, fails its messages and restores the address', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view, addressed } = setup;
  session.switchRoom('vip');
  assert.deepEqual(sent, [{ type: 'join', v: 1, minor: 2, nick: 'ann', room: 'vip', resume: 'resume-1' }]);
  session.say('for vip');
  session.handle({ type: 'error', code: 'room_full', message: 'vip is full' });
  assert.deepEqual(view.notices(), ['error: Could not join #vip: it is full. Try again later, or join another room.']);
  assert.equal(view.items[0].failed, 'Could not join #vip.');
  assert.equal(session.currentRoom(), 'lobby');
  assert.deepEqual(addressed.at(-1), ['restore', 'lobby']);
  assert.equal(session.isJoined(), true);
});

test('switching rooms clears the list but for pending messages of the new room', () => {
  const setup = setUp();
  joined(setup);
  const { session, view } = setup;
  session.say('left behind'); // in flight in the lobby
  session.switchRoom('kitchen');
  session.say('for the kitchen');
  view.clear();
  session.handle(welcome({ room: 'kitchen', roster: [{ nick: 'ann' }], count: 1 }));
  assert.equal(view.items[0].failed, 'You left the room before it went.');
  assert.deepEqual(view.of('resetMessages'), [[[view.items[1]]]]);
  assert.deepEqual(view.notices(), [
    'You left #lobby and joined #kitchen.',
    'error: 1 unsent message(s) meant for #lobby were dropped.',
  ]);
  assert.deepEqual(setup.addressed.at(-1), ['show', 'kitchen']);
});

test('joining the room we are in says so and sends nothing', () => {
  const setup = setUp();
  joined(setup);
  setup.session.switchRoom('lobby');
  assert.deepEqual(setup.sent, []);
  assert.deepEqual(setup.view.notices(), ['You are already in #lobby.']);
});

test('roster frames keep the list and count and say who came and went', () => {
  const setup = setUp();
  joined(setup);
  const { session, view } = setup;
  session.handle({ type: 'joined', nick: 'cy', count: 3 });
  session.handle({ type: 'presence', count: 4, changes: [
    { nick: 'dee', present: true }, { nick: 'eve', present: true }, { nick: 'bob', present: false }, { nick: 'ann', present: false },
  ] });
  session.handle({ type: 'left', nick: 'cy', count: 3 });
  session.handle({ type: 'renamed', old: 'dee', new: 'dora' });
  assert.deepEqual(view.notices(), [
    'cy joined — there are 3 participants',
    '2 joined, 1 left — there are 4 participants',
    'cy left — there are 3 participants',
    'dee is now known as dora.',
  ]);
  const [people, count, self] = view.of('showRoster').at(-1);
  assert.deepEqual(people.map((person) => person.nick), ['ann', 'dora', 'eve']);
  assert.equal(count, 3);
  assert.equal(self, 'ann');
});

test('names in presence lines are isolated parts, so a right-to-left name cannot reorder the line', () => {
  const setup = setUp();
  joined(setup);
  const { session, view } = setup;
  session.handle({ type: 'joined', nick: 'נועה 2', count: 3 });
  session.handle({ type: 'renamed', old: 'נועה 2', new: 'دانا' });
  session.handle({ type: 'left', nick: 'دانا', count: 2 });
  assert.deepEqual(view.of('notice').map(([parts]) => parts), [
    [{ name: 'נועה 2' }, ' joined — ', 'there are 3 participants'],
    [{ name: 'נועה 2' }, ' is now known as ', { name: 'دانا' }, '.'],
    [{ name: 'دانا' }, ' left — ', 'there are 2 participants'],
  ]);
});

test('our own rename is remembered and used for the next join', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view, remembered } = setup;
  assert.equal(session.changeNick('annie'), true);
  assert.deepEqual(sent, [{ type: 'nick', nick: 'annie' }]);
  session.handle({ type: 'renamed', old: 'ann', new: 'annie' });
  assert.deepEqual(view.notices(), ['You are now known as annie.']);
  assert.deepEqual(remembered, ['ann', 'annie']);
  session.linkClosed(1006);
  sent.length = 0;
  session.linkOpened();
  assert.equal(sent[0].nick, 'annie');
  assert.equal(session.changeNick('x'), false, 'not in a room now');
});

test('typing frames show who types; our own is ignored and a message ends it', () => {
  const setup = setUp();
  joined(setup, welcome({ roster: [{ nick: 'ann' }, { nick: 'bob' }, { nick: 'cy' }], count: 3 }));
  const { session, view } = setup;
  session.handle({ type: 'typing', nick: 'cy', on: true });
  session.handle({ type: 'typing', nick: 'ann', on: true });
  session.handle({ type: 'typing', nick: 'nobody', on: true });
  assert.deepEqual(view.of('showTyping'), [[['cy']]]);
  session.handle(message(1, 'cy', 'done'));
  assert.deepEqual(view.of('showTyping').at(-1), [[]]);
  session.handle({ type: 'typing', nick: 'bob', on: 1 });
  session.linkClosed(1006);
  assert.deepEqual(view.of('showTyping').at(-1), [[]], 'nobody types on a dropped link');
});

test('a degraded server is reported once, and its recovery releases held messages', async () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view, clock } = setup;
  session.handle({ type: 'status', degraded: true });
  session.handle({ type: 'status', degraded: true });
  assert.deepEqual(view.of('showDegraded'), [[true]]);
  session.say('wait');
  session.handle({ type: 'error', code: 'degraded', message: 'later', ref: sent[0].ref, retry_ms: 60000 });
  await clock.advance(1000);
  assert.equal(sent.length, 1);
  session.handle({ type: 'status', degraded: false });
  assert.deepEqual(view.of('showDegraded'), [[true], [false]]);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].ref, sent[0].ref);
  assert.equal(view.notices().at(-1), 'The chat has recovered.');
});

test('a rate-limited join is sent again after the wait', async () => {
  const setup = setUp();
  const { session, sent, clock } = setup;
  session.joinAs('ann');
  session.handle({ type: 'error', code: 'rate_limited', message: 'slow', retry_ms: 2000 });
  assert.equal(session.isAwaitingWelcome(), false);
  await clock.advance(1999);
  assert.equal(sent.length, 1);
  await clock.advance(1);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1], sent[0]);
});

test('a replaced connection says so and not "connection lost"', () => {
  const setup = setUp();
  joined(setup);
  setup.session.linkClosed(4001);
  assert.deepEqual(setup.view.notices(), ['error: This chat was opened in another window, so this one stopped.']);
});

test('left_room stops rejoining; other errors are shown; unknown frames are ignored', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view } = setup;
  session.handle({ type: 'shiny_new_frame', x: 1 });
  session.handle({ type: 'pong' });
  session.handle({ type: 'error', code: 'bad_frame', message: 'what?' });
  session.handle({ type: 'error', code: 'shiny_new_code', message: 'as the server words it' });
  session.handle({ type: 'left_room', room: 'lobby' });
  assert.deepEqual(view.notices(), [
    'error: The server could not read what this page sent. Reloading the page should fix it.',
    'error: as the server words it',
    'You left #lobby.',
  ]);
  session.linkClosed(1006);
  session.linkOpened();
  assert.deepEqual(sent, []);
});

test('scrolling to the top pages back through the room; its errors stay apart from the outbox', async () => {
  const setup = setUp();
  const history = [message(51, 'bob', 'fifty-one'), message(52, 'ann', 'mine')];
  joined(setup, welcome({ minor: 1, history, cursor: 52 }));
  setup.session.nearTop();
  assert.deepEqual(setup.sent, [{ type: 'history', before: 51, limit: 50, ref: 'h1' }]);
  setup.session.handle({ type: 'error', code: 'rate_limited', message: 'slow', ref: 'h1', retry_ms: 10 });
  await settle();
  assert.deepEqual(setup.view.notices(), [], 'no "sending too fast" notice for a history request');
  setup.session.nearTop();
  assert.equal(setup.sent.length, 1, 'held off');
  setup.clock.time += 10;
  setup.session.nearTop();
  const older = [message(49, 'ann', 'old mine'), message(50, 'bob', 'old')];
  setup.session.handle({ type: 'history', ref: 'h2', before: 51, messages: older, more: false });
  await settle();
  const prepended = setup.view.of('prependMessages');
  assert.equal(prepended.length, 1);
  assert.deepEqual(prepended[0][0].map(({ message: m, own, me }) => [m.id, m.text, own, me]), [
    [49, 'old mine', true, 'ann'],
    [50, 'old', false, 'ann'],
  ]);
  assert.deepEqual(setup.view.of('showBeginning'), [[false]], 'ids 1 to 48 were forgotten');
});

test('a burst past the rate limit shows one slow-down line, loses nothing, and clears it', async () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view, clock } = setup;
  for (let i = 1; i <= 30; i += 1) session.say(`m${i}`);
  // The server's bucket: 20 frames at once, then one every 100 ms.
  let tokens = 20;
  let refilledAt = clock.now();
  const posted = [];
  let answered = 0;
  while (posted.length < 30) {
    assert.ok(answered < sent.length, 'a say is in flight whenever messages wait');
    const frame = sent[answered];
    answered += 1;
    const gained = Math.floor((clock.now() - refilledAt) / 100);
    tokens = Math.min(20, tokens + gained);
    refilledAt += gained * 100;
    if (tokens > 0) {
      tokens -= 1;
      posted.push(frame);
      session.handle(message(posted.length, 'ann', frame.text));
      session.handle({ type: 'ack', ref: frame.ref, id: posted.length });
    } else {
      const wait = 100 - ((clock.now() - refilledAt) % 100);
      // Typing signals are refused too, without a ref: they show nothing.
      session.handle({ type: 'error', code: 'rate_limited', message: 'too many frames', retry_ms: wait });
      session.handle({ type: 'error', code: 'rate_limited', message: `too many frames; retry in ${wait} ms`, ref: frame.ref, retry_ms: wait });
      await clock.advance(wait);
    }
  }
  assert.deepEqual(posted.map((frame) => frame.text), Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
  assert.equal(new Set(posted.map((frame) => frame.ref)).size, 30, 'each posted once, with its own ref');
  assert.ok(sent.length > 30, 'refused ones went again');
  assert.deepEqual(view.notices(), [], 'no "too fast" lines at all');
  const counts = view.of('showSlowDown').map(([waiting]) => waiting);
  assert.equal(counts[0], 10, 'it appears when the 21st is refused, with what waits');
  assert.equal(counts.at(-1), 0, 'and goes once all are out');
  for (let i = 1; i < counts.length; i += 1) assert.ok(counts[i] <= counts[i - 1], `${counts}`);
  assert.equal(view.items.filter((item) => item.failed !== null).length, 0);

  // Later messages, not refused, show no line.
  view.clear();
  session.say('calm');
  session.handle({ type: 'ack', ref: sent.at(-1).ref, id: 31 });
  assert.deepEqual(view.of('showSlowDown'), []);
});

test('a degraded server holds messages back without the slow-down line', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view } = setup;
  session.say('wait');
  session.handle({ type: 'error', code: 'degraded', message: 'later', ref: sent[0].ref, retry_ms: 1000 });
  assert.deepEqual(view.of('showSlowDown'), []);
});

test('a message refused for its length says by how much', () => {
  const setup = setUp();
  joined(setup);
  const { session, sent, view } = setup;
  session.say('x'.repeat(2345));
  session.handle({ type: 'error', code: 'message_too_long', message: 'message has 2345 characters; the limit is 2000', ref: sent[0].ref });
  assert.equal(view.items[0].failed, 'That message has 2,345 characters; the limit is 2,000.');
});

test('a refused rename says why in words and gives the command back', () => {
  const commands = [];
  const setup = setUp({ onCommand: (name, ok) => commands.push([name, ok]) });
  const { session, sent, view } = setup;
  session.joinAs('ann');
  session.handle(welcome());
  view.clear();
  sent.length = 0;
  assert.equal(session.changeNick('bob'), true);
  session.handle({ type: 'error', code: 'nick_taken', message: 'the nickname bob is taken in lobby' });
  assert.deepEqual(view.notices(), ['error: “bob” is already taken in #lobby. Please choose another.']);
  assert.deepEqual(commands, [['nick', false]]);
  // A typing signal refused later is not blamed on the rename.
  session.handle({ type: 'error', code: 'rate_limited', message: 'too many frames', retry_ms: 50 });
  assert.equal(view.notices().length, 1);
  assert.equal(session.changeNick('annie'), true);
  session.handle({ type: 'renamed', old: 'ann', new: 'annie' });
  assert.deepEqual(commands.at(-1), ['nick', true]);
  assert.equal(session.changeNick('annie'), true, 'the same name: nothing to ask');
  assert.deepEqual(sent, [{ type: 'nick', nick: 'bob' }, { type: 'nick', nick: 'annie' }]);
  assert.deepEqual(commands.at(-1), ['nick', true]);
});

test('a refused /join is given back; a welcome settles it', () => {
  const commands = [];
  const { session } = setUp({ onCommand: (name, ok) => commands.push([name, ok]) });
  session.joinAs('ann');
  session.handle(welcome());
  session.switchRoom('vip');
  session.handle({ type: 'error', code: 'room_full', message: 'vip is full' });
  session.switchRoom('kitchen');
  session.handle(welcome({ room: 'kitchen' }));
  session.switchRoom('kitchen');
  assert.deepEqual(commands, [['join', false], ['join', true], ['join', true]]);
});

test('others\' messages naming us are passed on as mentions', () => {
  const setup = setUp();
  joined(setup);
  const { session, view } = setup;
  session.handle(message(1, 'bob', 'hey ANN, look'));
  session.handle(message(2, 'bob', 'Joanna says hi'));
  session.handle(message(3, 'ann', 'I am ann'));
  assert.deepEqual(view.of('noteUnread'), [['lobby', true], ['lobby', false]]);
  assert.deepEqual(view.of('addMessage').map(([m, own, me]) => [m.id, own, me]), [[1, false, 'ann'], [2, false, 'ann'], [3, true, 'ann']]);
});
