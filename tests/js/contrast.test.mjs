// Every text colour of chat.css against every background it is drawn on,
// in the light theme and in the dark one (prefers-color-scheme: dark):
// WCAG 2 AA asks for a contrast ratio of at least 4.5:1 for body text.
// The colours are read from chat.css's custom properties, so a change of
// palette is checked here; nicknames are checked at every hue.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';

const css = readFileSync(new URL('../../assets/chat.css', import.meta.url), 'utf8');

/** WCAG AA for normal text. */
const AA = 4.5;

/** The custom properties declared in the first `:root { ... }` after `from`. */
function customProperties(from) {
  const start = css.indexOf(':root {', from);
  const body = css.slice(start, css.indexOf('}', start));
  return Object.fromEntries([...body.matchAll(/(--[\w-]+):\s*([^;]+);/g)].map(([, name, value]) => [name, value.trim()]));
}

const light = customProperties(0);
const dark = { ...light, ...customProperties(css.indexOf('@media (prefers-color-scheme: dark)')) };

/** [r, g, b] in 0..1 from #rrggbb. */
function hex(value) {
  const digits = value.match(/^#([0-9a-f]{6})$/i);
  assert.ok(digits, `${value} is #rrggbb`);
  return [0, 2, 4].map((i) => parseInt(digits[1].slice(i, i + 2), 16) / 255);
}

/** [r, g, b] in 0..1 from CSS hsl(h s% l%) values. */
function hsl(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = (s / 100) * Math.min(l / 100, 1 - l / 100);
  const f = (n) => l / 100 - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
  return [f(0), f(8), f(4)];
}

function luminance(rgb) {
  const [r, g, b] = rgb.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The WCAG contrast ratio of two colours. */
export function ratio(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * Text colour -> the backgrounds it is drawn on. --bg is the message list
 * and the inputs, --panel the bars, roster and cards, --own our own (and
 * pending) messages, --mention-row a message naming the reader, --mention
 * the name itself.
 */
const PAIRS = {
  '--text': ['--bg', '--panel', '--own', '--mention-row', '--mention'],
  '--muted': ['--bg', '--panel', '--own', '--mention-row'],
  '--error': ['--bg', '--panel', '--own'],
  '--accent': ['--bg', '--panel', '--own', '--mention-row'],
  '--accent-text': ['--accent'],
};

/** Backgrounds a nickname is drawn on (messages and the roster). */
const NICK_BACKGROUNDS = ['--bg', '--panel', '--own', '--mention-row'];

for (const [theme, colours] of [['light', light], ['dark', dark]]) {
  test(`${theme} theme: every text colour passes AA on its backgrounds`, (t) => {
    for (const [fg, backgrounds] of Object.entries(PAIRS)) {
      for (const bg of backgrounds) {
        const found = ratio(hex(colours[fg]), hex(colours[bg]));
        t.diagnostic(`${fg} ${colours[fg]} on ${bg} ${colours[bg]}: ${found.toFixed(2)}:1`);
        assert.ok(found >= AA, `${theme}: ${fg} on ${bg} is ${found.toFixed(2)}:1`);
      }
    }
  });

  test(`${theme} theme: nicknames pass AA at every hue`, (t) => {
    const s = parseFloat(colours['--nick-s']);
    const l = parseFloat(colours['--nick-l']);
    for (const bg of NICK_BACKGROUNDS) {
      let worst = Infinity;
      let at = 0;
      for (let hue = 0; hue < 360; hue += 1) {
        const found = ratio(hsl(hue, s, l), hex(colours[bg]));
        if (found < worst) [worst, at] = [found, hue];
      }
      t.diagnostic(`nicknames (s ${s}%, l ${l}%) on ${bg}: at worst ${worst.toFixed(2)}:1 (hue ${at})`);
      assert.ok(worst >= AA, `${theme}: a nickname of hue ${at} on ${bg} is ${worst.toFixed(2)}:1`);
    }
  });
}

test('no text is faded with opacity, which would undo the ratios above', () => {
  for (const rule of css.matchAll(/([^{}]+)\{([^}]*)\}/g)) {
    const [, selector, body] = rule;
    const opacity = body.match(/(?:^|;|\s)opacity:\s*([\d.]+)/);
    if (opacity) {
      assert.equal(Number(opacity[1]), 1, `${selector.trim()} fades its text`);
    }
  }
});
