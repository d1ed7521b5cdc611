/*
 * What the page says when the server refuses something: one readable
 * sentence for every stable error code the server sends (the error frame
 * codes of docs/PROTOCOL.md 5.1, src/protocol.rs ErrorCode, and the HTTP
 * codes of 5.2), worded from what the page knows (the nickname or room it
 * asked for, the text it sent, the welcome's limits) rather than from the
 * server's `message`, whose wording is for developers and may change. Also
 * the page's own checks of a nickname and a room name (the server's rules
 * of PROTOCOL.md 3.1.1 and 3.1.2, so a command can be refused before it
 * is sent), and the "slow down" line.
 *
 * Owns: nothing mutable; a table and pure functions.
 * Must not touch: the DOM, timers or the network; session.js and input.js
 * show the sentences (as text, never as HTML).
 */

/** Punctuation a nickname may hold besides letters, digits and inner spaces. */
const NICK_PUNCTUATION = new Set(['-', '_', '.', "'"]);

/** Letters that render as nothing, refused in nicknames (Hangul and Khmer fillers). */
const INVISIBLE_LETTERS = new Set(['\u115F', '\u1160', '\u17B4', '\u17B5', '\u3164', '\uFFA0']);

/** Longest room name, in bytes (MAX_ROOM_CHARS in src/core/rules/room_name.rs). */
export const MAX_ROOM_CHARS = 32;

/** A count as people read it: 2,345. */
export function count(n) {
  return n.toLocaleString('en-US');
}

/** Characters as the server counts them: code points, not UTF-16 units. */
export function charCount(text) {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    // A low surrogate after a high one is the second half of one character.
    if (unit >= 0xdc00 && unit <= 0xdfff && i > 0) {
      const before = text.charCodeAt(i - 1);
      if (before >= 0xd800 && before <= 0xdbff) continue;
    }
    n += 1;
  }
  return n;
}

/** `n` characters, in words. */
function characters(n) {
  return n === 1 ? '1 character' : `${count(n)} characters`;
}

/** How a character is named in a sentence: itself in quotes, or what it is when it shows as nothing. */
export function describeChar(ch) {
  const hex = `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  if (ch === ' ') return 'a space';
  if (/\p{M}/u.test(ch)) return `a combining mark (${hex}); type the accented letter itself`;
  if (/[\p{Z}\s]/u.test(ch)) return `a special space (${hex})`;
  if (/[\p{Cc}\p{Cf}]/u.test(ch) || INVISIBLE_LETTERS.has(ch)) return `an invisible character (${hex})`;
  return `“${ch}”`;
}

/**
 * Why the server would refuse `raw` as a nickname, as a sentence, or null
 * when the page's checks find nothing (the server also refuses letters of
 * several scripts mixed, which the page does not check). `max` is the
 * welcome's max_nick_chars, when known.
 */
export function nickProblem(raw, max) {
  const nick = (raw || '').trim();
  const length = charCount(nick);
  if (length === 0) return 'Please choose a nickname.';
  if (max > 0 && length > max) {
    return `That nickname has ${characters(length)}; the limit is ${count(max)}.`;
  }
  if (nick.includes('  ')) return 'A nickname may not hold two spaces in a row.';
  for (const ch of nick) {
    const allowed = /[\p{Alphabetic}\p{N}]/u.test(ch) || ch === ' ' || NICK_PUNCTUATION.has(ch);
    if (!allowed || INVISIBLE_LETTERS.has(ch)) {
      return `A nickname may hold letters, digits, spaces and - _ . ' only, not ${describeChar(ch)}.`;
    }
  }
  return null;
}

/** Every rule of a nickname in one sentence, for when the page cannot tell which one broke. */
function nickRules(max) {
  const most = max > 0 ? `, at most ${count(max)} characters` : '';
  return `That nickname cannot be used: a nickname holds letters and digits of one script (not Latin and Cyrillic mixed, say), single spaces and - _ . '${most}.`;
}

/**
 * Why the server would refuse `raw` as a room name, as a sentence, or
 * null when it is fine. The server trims it and lower-cases ASCII letters.
 */
export function roomProblem(raw) {
  const room = (raw || '').trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (room === '') return 'Name a room, for example /join kitchen.';
  for (const ch of room) {
    if (!/[a-z0-9_-]/.test(ch)) {
      return `A room name may hold a–z, 0–9, - and _ only, not ${describeChar(ch)}.`;
    }
  }
  if (room.length > MAX_ROOM_CHARS) {
    return `A room name may have at most ${MAX_ROOM_CHARS} characters; “${room}” has ${room.length}.`;
  }
  return null;
}

/** The counter's text when a message is over the limit: "2,345 characters; the limit is 2,000". */
export function overLimitText(used, max) {
  return `${characters(used)}; the limit is ${count(max)}`;
}

/** `#room` when known, else `fallback`. */
function roomOr(room, fallback) {
  return room ? `#${room}` : fallback;
}

/**
 * Code -> sentence, from the context {nick, room, text, limits}: the
 * nickname or room the refused frame asked for, the text of a refused
 * message, and the last welcome's limits. Any of them may be missing.
 */
export const WORDING = Object.freeze({
  // Error frames (PROTOCOL.md 5.1).
  bad_frame: () => 'The server could not read what this page sent. Reloading the page should fix it.',
  unknown_type: () => 'The server does not know a request this page made; it may be older than the page. Reloading the page may help.',
  binary_unsupported: () => 'The server takes text only, and this page sent something else. Reloading the page may help.',
  frame_too_large: ({ limits }) => {
    const most = limits && limits.max_frame_bytes;
    return most > 0
      ? `That was too large to send: the server takes at most ${count(most)} bytes at once.`
      : 'That was too large to send.';
  },
  unsupported_version: () => 'This page and the server speak different versions of the chat. Reload the page.',
  not_joined: () => 'You are not in a room at the moment; try again once you are back in.',
  invalid_nick: ({ nick, limits }) => nickProblem(nick, limits && limits.max_nick_chars) || nickRules(limits && limits.max_nick_chars),
  nick_taken: ({ nick, room }) => `${nick ? `“${nick.trim()}”` : 'That nickname'} is already taken${room ? ` in #${room}` : ''}. Please choose another.`,
  invalid_room: ({ room }) => roomProblem(room) || 'That is not a room name: use 1 to 32 of a–z, 0–9, - and _.',
  too_many_rooms: ({ room }) => `Could not open ${roomOr(room, 'a new room')}: the server holds as many rooms as it can. Join a room that exists, or try again later.`,
  room_full: ({ room }) => `Could not join ${roomOr(room, 'the room')}: it is full. Try again later, or join another room.`,
  empty_message: () => 'That message is empty: it holds only spaces or invisible characters.',
  message_too_long: ({ text, limits }) => {
    const max = limits && limits.max_message_chars;
    if (typeof text === 'string' && max > 0) return `That message has ${overLimitText(charCount(text), max)}.`;
    return max > 0 ? `That message is longer than the limit of ${characters(max)}.` : 'That message is too long.';
  },
  invalid_text: ({ text }) => (/[\u202A-\u202E]/.test(text || '')
    ? 'That message holds characters that reverse the direction of text (U+202A to U+202E), which can disguise it; remove them.'
    : 'That message holds control characters, which cannot be sent; remove them.'),
  rate_limited: () => 'You are sending too fast; wait a moment and try again.',
  shutting_down: () => 'The server is stopping; the page reconnects by itself.',
  degraded: () => 'The server cannot store anything right now; try again in a moment.',
  invalid_before: () => 'Older messages could not be loaded.',
  invalid_limit: () => 'Older messages could not be loaded.',

  // HTTP errors (PROTOCOL.md 5.2) not already above.
  origin_not_allowed: () => 'The server does not accept connections from this page\'s address; whoever runs it can fix that (the connection check says how).',
  transport_disabled: () => 'The server has switched this way of connecting off.',
  not_found: () => 'The server has no such page.',
  unknown_session: () => 'The connection expired; the page reconnects by itself.',
  body_timeout: () => 'What this page sent arrived too slowly; it is sent again.',
  body_too_large: () => 'That was too large to send.',
  too_many_connections: () => 'Too many connections come from your address; the page tries again shortly.',
  too_many_sessions: () => 'Too many chats are open from your address; close some tabs or windows.',
  server_full: () => 'The server is full; the page tries again shortly.',
});

/**
 * The sentence for an error frame `e` ({code, message}) in `context`. A
 * code this page does not know (a newer server's) is shown as the server
 * worded it, as PROTOCOL.md 1.2 asks.
 */
export function errorText(e, context = {}) {
  if (Object.hasOwn(WORDING, e.code)) return WORDING[e.code](context);
  return typeof e.message === 'string' && e.message ? e.message : 'The server refused that.';
}

/** The one "slow down" line while messages wait for the rate limit: how many wait. */
export function slowDownText(waiting) {
  return waiting === 1
    ? 'Slow down: 1 message is waiting to be sent.'
    : `Slow down: ${count(waiting)} messages are waiting to be sent, in order.`;
}

/**
 * The one line a reconnect leaves in the list (it replaces "Connection
 * lost; reconnecting…" in place). It says messages may be missing only
 * when the server said so: `gap` (the welcome's: more was missed than it
 * could replay) or `renumbered` (the room's history was lost).
 */
export function reconnectedText({ gap, renumbered }) {
  if (renumbered) return 'Reconnected. The server lost this room\'s history, so some messages may be missing.';
  if (gap) return 'Reconnected. Some messages may be missing.';
  return 'Reconnected.';
}

/**
 * A room name the server would take, made from one it would not: "My
 * Room!" -> "my-room". Null when nothing usable is left.
 */
export function suggestRoom(raw) {
  const room = (raw || '').trim().toLowerCase()
    .replace(/[\s.]+/g, '-')
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_ROOM_CHARS)
    .replace(/-+$/, '');
  return room && roomProblem(room) === null ? room : null;
}

/**
 * What the nickname screen says about the room the address names, or null
 * when it can be joined: {text, suggestion} where suggestion is a room
 * name to offer instead (or null).
 */
export function roomAdvice(room) {
  const problem = roomProblem(room);
  if (problem === null) return null;
  const shown = (room || '').trim();
  const text = shown
    ? `The address names “${shown}”, which cannot be a room. ${problem}`
    : problem;
  return { text, suggestion: suggestRoom(room) };
}
