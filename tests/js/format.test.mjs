// Wording, colours, the address and the message box's reading.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  charsLeft, clockTime, connText, countdownText, nickHue, othersHereText, participants, titleText,
  typingText,
  typing,
  othersHere,
} from '../../assets/js/format.js';
import { plainText } from '../../assets/js/sentence.js';
import { askedTransport, roomFrom } from '../../assets/js/address.js';
import {
  commandProblem, parseCommand, readComposer, tooLong,
} from '../../assets/js/commands.js';

test('a nickname\'s hue ignores case and spreads names that differ at the end', () => {
  assert.equal(nickHue('Ann'), nickHue('ann'));
  const hues = new Set(Array.from({ length: 10 }, (_, i) => nickHue(`u2${i}`)));
  assert.ok(hues.size >= 8, `${hues.size} hues for 10 names`);
  for (const hue of hues) assert.ok(Number.isInteger(hue) && hue >= 0 && hue < 360);
  assert.equal(nickHue(''), nickHue(''));
});

test('wording', () => {
  assert.equal(participants(1), 'there is 1 participant');
  assert.equal(participants(0), 'there are 0 participants');
  assert.equal(typingText([]), '');
  assert.equal(typingText(['ann']), 'ann is typing…');
  assert.equal(typingText(['ann', 'bob']), 'ann and bob are typing…');
  assert.equal(typingText(['ann', 'bob', 'cy']), 'several people are typing…');
  assert.equal(clockTime(new Date(2024, 0, 2, 7, 5)), '07:05');
  assert.equal(connText('reconnecting', undefined, false), 'Offline; reconnecting');
  assert.equal(connText('reconnecting', undefined, true), 'Reconnecting');
  assert.equal(connText('offline', 'opened elsewhere'), 'Offline (opened elsewhere)');
  assert.equal(connText('offline'), 'Offline');
  assert.equal(countdownText(10_000, 6_500), ' in 4 s…');
  assert.equal(countdownText(10_000, 10_000), '…');
});

test('the counter shows from 90% of the limit', () => {
  assert.equal(charsLeft(1799, 2000), null);
  assert.deepEqual(charsLeft(1800, 2000), { left: 200, over: false, text: '200 characters left' });
  assert.deepEqual(charsLeft(1999, 2000), { left: 1, over: false, text: '1 character left' });
  assert.deepEqual(charsLeft(2000, 2000), { left: 0, over: false, text: '0 characters left' });
  assert.equal(charsLeft(5000, undefined), null);
});

test('past the limit the counter says by how much, with the count', () => {
  assert.deepEqual(charsLeft(2001, 2000), { left: 0, over: true, text: '2,001 characters; the limit is 2,000' });
  assert.deepEqual(charsLeft(2345, 2000), { left: 0, over: true, text: '2,345 characters; the limit is 2,000' });
  assert.deepEqual(charsLeft(11, 10), { left: 0, over: true, text: '11 characters; the limit is 10' });
  assert.deepEqual(charsLeft(9500, 10000), { left: 500, over: false, text: '500 characters left' });
});

test('the title counts unread messages and mentions while the tab is hidden', () => {
  assert.equal(titleText('lobby', 0, 0), '#lobby — Parley');
  assert.equal(titleText('lobby', 5, 0), '(5) #lobby — Parley');
  assert.equal(titleText('lobby', 5, 2), '(@2 · 5) #lobby — Parley');
});

test('a /join or /nick the server would refuse is refused before it is sent', () => {
  assert.equal(commandProblem('join', 'kitchen'), null);
  assert.equal(commandProblem('join', 'bad room!'), 'A room name may hold a–z, 0–9, - and _ only, not a space.');
  assert.equal(commandProblem('nick', 'bob', 24), null);
  assert.equal(commandProblem('nick', 'party🎉', 24), 'A nickname may hold letters, digits, spaces and - _ . \' only, not “🎉”.');
  assert.equal(commandProblem('nick', 'x'.repeat(30), 24), 'That nickname has 30 characters; the limit is 24.');
  assert.equal(commandProblem('help', ''), null);
});

test('the room comes from the hash, then ?room=, then the lobby', () => {
  assert.equal(roomFrom('#Kitchen', '?room=den'), 'kitchen');
  assert.equal(roomFrom('', '?room=%20Den%20'), 'den');
  assert.equal(roomFrom('#caf%C3%A9', ''), 'café');
  assert.equal(roomFrom('#%E0%A4%A', '?room=den'), 'den', 'a malformed hash is ignored');
  assert.equal(roomFrom('', ''), 'lobby');
  assert.equal(askedTransport('?transport=polling&room=x'), 'polling');
  assert.equal(askedTransport(''), null);
});

test('the message box holds nothing, a command, or a message', () => {
  assert.deepEqual(readComposer('  \n'), { kind: 'nothing' });
  assert.deepEqual(readComposer('/join  #Kitchen '), { kind: 'command', name: 'join', arg: '#Kitchen' });
  assert.deepEqual(readComposer('/help'), { kind: 'command', name: 'help', arg: '' });
  assert.deepEqual(readComposer('/nick\nann b'), { kind: 'command', name: 'nick', arg: 'ann b' });
  assert.deepEqual(readComposer('//shrug'), { kind: 'say', text: '/shrug' });
  assert.deepEqual(readComposer(' hi /there'), { kind: 'say', text: ' hi /there' });
  assert.deepEqual(parseCommand('/'), { name: '', arg: '' });
});

test('length is counted in characters, as the server counts', () => {
  assert.equal(tooLong('😀😀', 2), false, 'two characters, four UTF-16 units');
  assert.equal(tooLong('abc', 2), true);
  assert.equal(tooLong('abc', undefined), false);
  assert.equal(tooLong('abc', 0), false);
  assert.equal(tooLong('x'.repeat(2345), 2000), true, 'a long paste is refused, not cut');
});

test('an empty room says who else is here', () => {
  assert.equal(othersHereText(['ann'], 'ann'), 'You are the only one here.');
  assert.equal(othersHereText([], 'ann'), 'You are the only one here.');
  assert.equal(othersHereText(['ann', 'bob'], 'ann'), 'bob is here too.');
  assert.equal(othersHereText(['bob', 'ann', 'cy'], 'ann'), 'bob and cy are here too.');
  assert.equal(othersHereText(['ann', 'bob', 'cy', 'dee'], 'ann'), 'bob, cy and 1 other are here too.');
  assert.equal(othersHereText(['ann', 'bob', 'cy', 'dee', 'eve'], 'ann'), 'bob, cy and 2 others are here too.');
});

test('the typing line and the empty room\'s greeting hold names as isolated parts', () => {
  assert.deepEqual(typing(['دانا']), [{ name: 'دانا' }, ' is typing…']);
  assert.deepEqual(typing(['ann', 'נועה']), [{ name: 'ann' }, ' and ', { name: 'נועה' }, ' are typing…']);
  assert.deepEqual(typing([]), []);
  assert.deepEqual(othersHere(['ann', 'דנה'], 'ann'), [{ name: 'דנה' }, ' is here too.']);
  assert.equal(plainText(othersHere(['ann', 'דנה', 'bob', 'cy'], 'ann')), 'דנה, bob and 1 other are here too.');
  assert.equal(plainText('as it is'), 'as it is');
});
