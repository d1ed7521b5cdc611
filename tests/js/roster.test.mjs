// The roster model and our typing indicator (the outbox is the client library's: parley-client.test.mjs).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { Roster } from '../../assets/js/roster.js';
import { TYPING_IDLE_MS, createTypingReporter } from '../../assets/js/typing.js';
import { FakeClock } from './fakes.mjs';

const nicks = (roster) => roster.people().map((person) => person.nick);

test('the roster keeps join order through presence batches and renames', () => {
  const roster = new Roster();
  roster.reset([{ nick: 'ann' }, { nick: 'bob', typing: 1 }], 2);
  assert.deepEqual(roster.people(), [{ nick: 'ann', typing: false }, { nick: 'bob', typing: true }]);
  const { came, went } = roster.applyPresence([
    { nick: 'cy', present: true },
    { nick: 'bob', present: true }, // already listed: counted, not moved
    { nick: 'ann', present: false }, // ourselves: stays
    { nick: 'dee', present: false }, // not listed: counted anyway
  ], 3, 'ann');
  assert.deepEqual({ came, went }, { came: 2, went: 1 });
  assert.deepEqual(nicks(roster), ['ann', 'bob', 'cy']);
  assert.equal(roster.count, 3);
  roster.rename('bob', 'rob');
  assert.deepEqual(nicks(roster), ['ann', 'rob', 'cy']);
  assert.deepEqual(roster.typists('ann'), ['rob'], 'a rename keeps the typing mark');
  roster.remove('rob', 2);
  roster.add('eve', 3);
  assert.deepEqual(nicks(roster), ['ann', 'cy', 'eve']);
});

test('typing marks: set, ended by a message, and all cleared', () => {
  const roster = new Roster();
  roster.reset([{ nick: 'ann' }, { nick: 'bob' }, { nick: 'cy' }], 3);
  assert.equal(roster.setTyping('zed', true), false);
  roster.setTyping('ann', true);
  roster.setTyping('bob', true);
  roster.setTyping('cy', true);
  assert.deepEqual(roster.typists('ann'), ['bob', 'cy']);
  assert.equal(roster.endTyping('bob'), true);
  assert.equal(roster.endTyping('bob'), false);
  roster.stopAllTyping();
  assert.deepEqual(roster.typists(null), []);
  const copy = roster.people();
  copy[0].typing = true;
  assert.deepEqual(roster.typists(null), [], 'people() is a copy');
});

test('typing is reported on the first keystroke, renewed, and ended when idle', async () => {
  const clock = new FakeClock();
  const sent = [];
  let joined = true;
  const typing = createTypingReporter({ signal: (on) => { sent.push({ type: 'typing', on }); return true; }, joined: () => joined, io: clock });
  typing.note('h');
  typing.note('he');
  assert.deepEqual(sent, [{ type: 'typing', on: true }]);
  await clock.advance(2000);
  typing.note('hel');
  await clock.advance(2001);
  typing.note('hell');
  assert.equal(sent.length, 2, 'renewed after 4 s of typing');
  await clock.advance(TYPING_IDLE_MS);
  assert.deepEqual(sent.at(-1), { type: 'typing', on: false });
  typing.note('/nick bob');
  typing.note('   ');
  assert.equal(sent.length, 3, 'a command or blanks are not typing');
  typing.note('//not a command');
  assert.equal(sent.length, 4);
  typing.linkLost();
  typing.stop();
  assert.equal(sent.length, 4, 'after a drop there is nothing to end');
  joined = false;
  typing.note('x');
  assert.equal(sent.length, 4, 'nothing is sent outside a room');
});
