// A message's text cut into text, links and mentions: only http and https
// become links, sentence punctuation stays out of them, and the parts
// always join back into the text.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  linkParts, linkTarget, mentionPattern, mentions, messageParts,
} from '../../assets/js/message-parts.js';

const text = (t) => ({ kind: 'text', text: t });
const link = (t, href = t) => ({ kind: 'link', text: t, href });
const mention = (t) => ({ kind: 'mention', text: t });

/** The parts, checked to give the text back when joined. */
function parts(input, me) {
  const found = messageParts(input, me);
  assert.equal(found.map((part) => part.text).join(''), input, 'the parts give the text back');
  return found;
}

test('http and https URLs become links; the text around them stays text', () => {
  assert.deepEqual(parts('see https://example.com/a?b=1&c=2#d now'), [
    text('see '), link('https://example.com/a?b=1&c=2#d'), text(' now'),
  ]);
  assert.deepEqual(parts('http://127.0.0.1:3000/healthz'), [link('http://127.0.0.1:3000/healthz')]);
  assert.deepEqual(parts('HTTPS://Example.COM/Path'), [link('HTTPS://Example.COM/Path', 'https://example.com/Path')]);
  assert.deepEqual(parts('two: http://a.example and https://b.example/'), [
    text('two: '), link('http://a.example', 'http://a.example/'), text(' and '), link('https://b.example/'),
  ]);
  assert.deepEqual(parts('no links here'), [text('no links here')]);
  assert.deepEqual(parts(''), []);
});

test('sentence punctuation after a URL is not part of it', () => {
  for (const end of ['.', ',', ';', ':', '!', '?', '...', '…', '!?', '".', "'", '*']) {
    assert.deepEqual(parts(`go to https://example.com/x${end}`), [
      text('go to '), link('https://example.com/x'), text(end),
    ], end);
  }
  assert.deepEqual(parts('https://example.com/a.b/c.html.'), [link('https://example.com/a.b/c.html'), text('.')]);
  assert.deepEqual(parts('<https://example.com/x>'), [text('<'), link('https://example.com/x'), text('>')]);
  assert.deepEqual(parts('"https://example.com/x"'), [text('"'), link('https://example.com/x'), text('"')]);
});

test('a closing bracket belongs to the URL only when the URL opened it', () => {
  assert.deepEqual(parts('(see https://example.com/x)'), [
    text('(see '), link('https://example.com/x'), text(')'),
  ]);
  assert.deepEqual(parts('https://en.wikipedia.org/wiki/Rust_(programming_language).'), [
    link('https://en.wikipedia.org/wiki/Rust_(programming_language)'), text('.'),
  ]);
  assert.deepEqual(parts('(https://en.wikipedia.org/wiki/Rust_(programming_language))'), [
    text('('), link('https://en.wikipedia.org/wiki/Rust_(programming_language)'), text(')'),
  ]);
  assert.deepEqual(parts('[https://example.com/a[1]]'), [text('['), link('https://example.com/a[1]'), text(']')]);
  assert.deepEqual(parts('https://example.com/x))).'), [link('https://example.com/x'), text('))).')]);
});

test('javascript:, data: and anything but http and https stay text', () => {
  for (const input of [
    'javascript:alert(1)',
    'JavaScript:alert(document.cookie)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    'ftp://example.com/x',
    'mailto:ann@example.com',
    '//example.com/x',
    'www.example.com',
  ]) {
    assert.deepEqual(parts(input), [text(input)], input);
  }
  // A scheme glued to a word is not the start of a link.
  assert.deepEqual(parts('xhttp://example.com'), [text('xhttp://example.com')]);
  assert.deepEqual(parts('javascripthttp://example.com'), [text('javascripthttp://example.com')]);
  // No host, or one that does not parse: text.
  for (const input of ['http://', 'https:// spaced', 'http://javascript:alert(1)', 'http://[::1', 'https://exa mple.com']) {
    for (const part of parts(input)) {
      if (part.kind === 'link') assert.match(part.href, /^https?:\/\/[^/]/, input);
    }
  }
  assert.deepEqual(parts('http://'), [text('http://')]);
  assert.deepEqual(parts('http://javascript:alert(1)'), [text('http://javascript:alert(1)')]);
  // Whatever follows a link in the same run cannot change where it goes.
  const [, tricky] = parts("x javascript:alert('https://example.com/')");
  assert.deepEqual(tricky, link('https://example.com/'));
});

test('every link goes to the parsed http(s) form of what it shows', () => {
  assert.equal(linkTarget('https://例え.jp/パス'), 'https://xn--r8jz45g.jp/%E3%83%91%E3%82%B9');
  assert.equal(linkTarget('http://user@example.com/'), 'http://user@example.com/');
  assert.equal(linkTarget('javascript:alert(1)'), null);
  assert.equal(linkTarget('data:text/plain,hi'), null);
  assert.equal(linkTarget('not a url'), null);
  const input = 'a https://a.example/"onmouseover="alert(1) b';
  const found = linkParts(input);
  assert.deepEqual(found[1], link('https://a.example/', 'https://a.example/'), 'a quote ends the URL');
});

test('very long texts are cut in linear time and give the text back', () => {
  const words = `${'word '.repeat(20_000)}https://example.com/end`;
  const found = parts(words);
  assert.equal(found.length, 2);
  assert.deepEqual(found[1], link('https://example.com/end'));

  const started = Date.now();
  const schemes = 'http://'.repeat(20_000);
  assert.deepEqual(parts(schemes).filter((part) => part.kind === 'link').length <= 1, true);
  const brackets = `https://example.com/${')'.repeat(50_000)}`;
  assert.deepEqual(parts(brackets), [link('https://example.com/'), text(')'.repeat(50_000))]);
  const many = Array.from({ length: 2_000 }, (_, i) => `https://e.example/${i}`).join(' ');
  assert.equal(parts(many).filter((part) => part.kind === 'link').length, 2_000);
  assert.ok(Date.now() - started < 5_000, 'a bound on hangs, not a benchmark');
});

test('mentions of the reader, any case, as a whole word', () => {
  assert.deepEqual(parts('hey Ann, look', 'ann'), [text('hey '), mention('Ann'), text(', look')]);
  assert.deepEqual(parts('@ANN: and ann.', 'Ann'), [text('@'), mention('ANN'), text(': and '), mention('ann'), text('.')]);
  assert.deepEqual(parts("ann's idea", 'ann'), [mention('ann'), text("'s idea")]);
  for (const input of ['Joanna', 'anne', 'ann2', 'ann_x', 'x_ann', 'ann-marie', 'marie-ann', 'anń']) {
    assert.equal(mentions(input, 'ann'), false, input);
  }
  assert.equal(mentions('ann - yes', 'ann'), true);
  assert.equal(mentions('hi mary jane!', 'Mary Jane'), true);
  assert.equal(mentions('cc Zoë.', 'zoë'), true);
  assert.equal(mentions('hi a.n', 'a.n'), true);
  assert.equal(mentions('hi axn', 'a.n'), false, 'a dot in a name is a dot, not any character');
  assert.equal(mentions("o'brien-2 says", "O'Brien-2"), true);
  assert.equal(mentions('anything', ''), false);
  assert.equal(mentionPattern(null), null);
  assert.deepEqual(parts('no one', null), [text('no one')]);
});

test('a mention inside a link stays part of the link', () => {
  assert.deepEqual(parts('ann: https://example.com/ann', 'ann'), [
    mention('ann'), text(': '), link('https://example.com/ann'),
  ]);
  assert.equal(mentions('https://example.com/ann', 'ann'), false);
});
