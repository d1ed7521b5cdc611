// What the page says about the server's refusals: a sentence for every
// code the protocol documents and the server defines, worded from what the
// page knows rather than from the server's message.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';

import {
  WORDING, charCount, count, describeChar, errorText, nickProblem, overLimitText, reconnectedText,
  roomAdvice, roomProblem, slowDownText, suggestRoom,
} from '../../assets/js/wording.js';

const root = new URL('../../', import.meta.url);
const protocolDoc = readFileSync(new URL('docs/PROTOCOL.md', root), 'utf8');
const protocolRs = readFileSync(new URL('src/protocol.rs', root), 'utf8');

/** The codes in the first column of the table under `heading` in PROTOCOL.md. */
function documentedCodes(heading) {
  const from = protocolDoc.indexOf(heading);
  assert.ok(from >= 0, `PROTOCOL.md has ${heading}`);
  const section = protocolDoc.slice(from, protocolDoc.indexOf('\n### ', from + heading.length));
  const codes = new Set();
  for (const line of section.split('\n')) {
    // Rows are "| `code` | ..." (5.1) or "| 403 | `code` | ..." (5.2).
    const row = line.match(/^\|(?:\s*\d{3}\s*\|)?\s*`([a-z_]+)`\s*\|/);
    if (row) codes.add(row[1]);
  }
  return codes;
}

test('every error frame code in PROTOCOL.md 5.1 has a wording', () => {
  const codes = documentedCodes('### 5.1 Error frame codes');
  assert.equal(codes.size, 19, `the 19 codes of ErrorCode::ALL: ${[...codes]}`);
  for (const code of codes) assert.ok(Object.hasOwn(WORDING, code), `no wording for ${code}`);
});

test('every HTTP error code in PROTOCOL.md 5.2 has a wording', () => {
  const codes = documentedCodes('### 5.2 HTTP errors');
  assert.ok(codes.size >= 12, `${[...codes]}`);
  for (const code of codes) assert.ok(Object.hasOwn(WORDING, code), `no wording for ${code}`);
});

test('every ErrorCode in src/protocol.rs has a wording', () => {
  const codes = [...protocolRs.matchAll(/ErrorCode::\w+ => "([a-z_]+)"/g)].map((found) => found[1]);
  assert.equal(codes.length, 19);
  for (const code of codes) assert.ok(Object.hasOwn(WORDING, code), `no wording for ${code}`);
});

test('every wording is a sentence, with or without context', () => {
  const contexts = [{}, { nick: 'ann', room: 'lobby', text: 'hi', limits: { max_message_chars: 2000, max_nick_chars: 24, max_frame_bytes: 16384 } }];
  for (const [code, word] of Object.entries(WORDING)) {
    for (const context of contexts) {
      const text = word(context);
      assert.match(text, /^[A-Z“#].*[.!]$/su, `${code}: ${text}`);
      assert.doesNotMatch(text, /undefined|null|NaN/, `${code}: ${text}`);
    }
  }
});

test('refusals are worded from what the page asked, not the server\'s text', () => {
  const limits = { max_message_chars: 2000, max_nick_chars: 24 };
  assert.equal(
    errorText({ code: 'nick_taken', message: 'the nickname CY is taken in r2' }, { nick: 'CY', room: 'r2' }),
    '“CY” is already taken in #r2. Please choose another.',
  );
  assert.equal(
    errorText({ code: 'invalid_nick', message: "nickname may hold letters, digits, spaces and - _ . ' only (found U+1F389)" }, { nick: 'party🎉', limits }),
    'A nickname may hold letters, digits, spaces and - _ . \' only, not “🎉”.',
  );
  assert.equal(
    errorText({ code: 'message_too_long', message: 'message has 2345 characters; the limit is 2000' }, { text: 'x'.repeat(2345), limits }),
    'That message has 2,345 characters; the limit is 2,000.',
  );
  assert.equal(errorText({ code: 'room_full', message: 'lobby is full' }, { room: 'lobby' }),
    'Could not join #lobby: it is full. Try again later, or join another room.');
  assert.match(errorText({ code: 'invalid_text' }, { text: 'gpj.\u202Eexe' }), /reverse the direction/);
  assert.equal(errorText({ code: 'from_the_future', message: 'as the server says it' }), 'as the server says it');
  assert.equal(errorText({ code: 'constructor', message: 'not a table key' }), 'not a table key');
  assert.equal(errorText({ code: 'from_the_future' }), 'The server refused that.');
});

test('the page checks a nickname as the server does, and names what is wrong', () => {
  assert.equal(nickProblem('ann', 24), null);
  assert.equal(nickProblem('  Mary Jane ', 24), null);
  assert.equal(nickProblem("o'brien-2_x.y", 24), null);
  assert.equal(nickProblem('東京', 24), null);
  assert.equal(nickProblem('Zoë', 24), null);
  assert.equal(nickProblem('   ', 24), 'Please choose a nickname.');
  assert.equal(nickProblem('a'.repeat(25), 24), 'That nickname has 25 characters; the limit is 24.');
  assert.equal(nickProblem('a'.repeat(25)), null, 'the limit is unknown before a welcome');
  assert.equal(nickProblem('mary  jane', 24), 'A nickname may not hold two spaces in a row.');
  assert.match(nickProblem('ann!', 24), /not “!”\.$/);
  assert.match(nickProblem('e\u0301', 24), /a combining mark \(U\+0301\); type the accented letter itself/);
  assert.match(nickProblem('a\u200Bb', 24), /an invisible character \(U\+200B\)/);
  assert.match(nickProblem('a\u3164b', 24), /an invisible character \(U\+3164\)/);
  assert.match(nickProblem('a\u00A0b', 24), /a special space \(U\+00A0\)/);
  // Mixed scripts pass the page's checks; the server's refusal is worded with every rule.
  assert.equal(nickProblem('\u0410nna', 24), null);
  assert.match(errorText({ code: 'invalid_nick' }, { nick: '\u0410nna', limits: { max_nick_chars: 24 } }), /one script/);
});

test('the page checks a room name as the server does', () => {
  assert.equal(roomProblem('kitchen'), null);
  assert.equal(roomProblem(' Team-2_b '), null, 'trimmed, ASCII lower-cased');
  assert.equal(roomProblem('a'.repeat(32)), null);
  assert.equal(roomProblem('bad room!'), 'A room name may hold a–z, 0–9, - and _ only, not a space.');
  assert.equal(roomProblem('café'), 'A room name may hold a–z, 0–9, - and _ only, not “é”.');
  assert.equal(roomProblem('a'.repeat(33)), `A room name may have at most 32 characters; “${'a'.repeat(33)}” has 33.`);
  assert.equal(roomProblem(''), 'Name a room, for example /join kitchen.');
});

test('characters are counted as the server counts them, and named', () => {
  assert.equal(charCount(''), 0);
  assert.equal(charCount('é'), 1);
  assert.equal(charCount('😀😀'), 2, 'two characters, four UTF-16 units');
  assert.equal(charCount('\uD800x'), 2, 'a lone surrogate counts once');
  assert.equal(count(2345), '2,345');
  assert.equal(overLimitText(2345, 2000), '2,345 characters; the limit is 2,000');
  assert.equal(describeChar('🎉'), '“🎉”');
  assert.equal(describeChar(' '), 'a space');
  assert.equal(describeChar('\t'), 'a special space (U+0009)');
});

test('the slow-down line says how many messages wait', () => {
  assert.equal(slowDownText(1), 'Slow down: 1 message is waiting to be sent.');
  assert.equal(slowDownText(12), 'Slow down: 12 messages are waiting to be sent, in order.');
  assert.equal(slowDownText(1234), 'Slow down: 1,234 messages are waiting to be sent, in order.');
});

test('the one reconnect line says messages may be missing only when the server says so', () => {
  assert.equal(reconnectedText({ gap: false, renumbered: false }), 'Reconnected.');
  assert.equal(reconnectedText({ gap: true, renumbered: false }), 'Reconnected. Some messages may be missing.');
  assert.match(reconnectedText({ gap: false, renumbered: true }), /lost this room's history, so some messages may be missing/);
});

test('a room in the address the server would refuse is explained, with one it would take', () => {
  assert.equal(roomAdvice('kitchen'), null);
  assert.deepEqual(roomAdvice('my room!'), {
    text: 'The address names “my room!”, which cannot be a room. A room name may hold a–z, 0–9, - and _ only, not a space.',
    suggestion: 'my-room',
  });
  assert.equal(suggestRoom('My Room!'), 'my-room');
  assert.equal(suggestRoom('  --Café. au lait--  '), 'caf-au-lait');
  assert.equal(suggestRoom('!!!'), null);
  assert.equal(suggestRoom('x'.repeat(40)).length, 32);
  assert.equal(roomAdvice('🎉').suggestion, null);
});
