/*
 * The page's wording and colours as pure functions of values: the hue of a
 * nickname, the clock time of a message, how many participants there are,
 * the typing line, the connection state's text, the document's title, who
 * else is in an empty room, the message box's counter, a big room's counted
 * arrivals and departures, and the line under a partial roster. (What the
 * page says about the server's refusals is wording.js.)
 *
 * Owns: nothing mutable.
 * Must not touch: the DOM, timers or the network; view.js puts the results
 * on the page (as text, never as HTML).
 */

import { count, overLimitText } from './wording.js';
import { nameIn, plainText, sentence } from './sentence.js';

/**
 * A hue from FNV-1a of the case-folded nickname (case-folded because the
 * server treats Ann and ann as one name), finished with murmur3's 32-bit
 * mix: plain FNV moves the top bits little for names that differ only at
 * the end (u20, u21, ...), which then all came out the same red. The CSS
 * picks a saturation and lightness readable on the theme.
 */
export function nickHue(nick) {
  let hash = 0x811c9dc5;
  for (const ch of nick.toLowerCase()) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
  hash ^= hash >>> 16;
  return Math.floor(((hash >>> 0) / 2 ** 32) * 360);
}

const two = (n) => String(n).padStart(2, '0');

/** "HH:MM" of a Date, in local time. */
export function clockTime(when) {
  return `${two(when.getHours())}:${two(when.getMinutes())}`;
}

/**
 * Who else is in a room, for the empty room's greeting: "You are the only
 * one here.", "ann is here too.", "ann and bob are here too.", "ann, bob
 * and 3 others are here too." `nicks` is the roster, `self` the reader;
 * `total` the room's size when `nicks` lists only some of it.
 */
export function othersHere(nicks, self, total) {
  const others = nicks.filter((nick) => nick !== self).map(nameIn);
  const more = Number.isSafeInteger(total) ? Math.max(others.length, total - 1) : others.length;
  if (more === 0) return ['You are the only one here.'];
  if (more > others.length && others.length < 2) return [`${count(more)} others are here too.`];
  if (more === 1) return sentence`${others[0]} is here too.`;
  if (more === 2) return sentence`${others[0]} and ${others[1]} are here too.`;
  const rest = more - 2;
  return sentence`${others[0]}, ${others[1]} and ${rest === 1 ? '1 other' : `${rest} others`} are here too.`;
}

/** othersHere() as plain text. */
export const othersHereText = (nicks, self, total) => plainText(othersHere(nicks, self, total));

export function participants(n) {
  return n === 1 ? 'there is 1 participant' : `there are ${count(n)} participants`;
}

/**
 * One line for a big room's batch of arrivals and departures, counted
 * rather than named (PROTOCOL.md 4.5.2): "12 people joined, 3 left —
 * there are 1,204 participants"; '' for a batch of nothing.
 */
export function countedPresenceText({ arrived, departed, count: size }) {
  const parts = [];
  if (arrived > 0) parts.push(`${count(arrived)} ${arrived === 1 ? 'person' : 'people'} joined`);
  if (departed > 0) parts.push(parts.length > 0 ? `${count(departed)} left` : `${count(departed)} ${departed === 1 ? 'person' : 'people'} left`);
  if (parts.length === 0) return '';
  return `${parts.join(', ')} — ${participants(size)}`;
}

/**
 * The line under the roster when it lists only some of the room: a
 * search's outcome ({prefix, shown, more}) or how many of `count` are
 * shown. '' when the list is complete and no search is on.
 */
export function rosterNote({
  complete, shown, count: size, prefix = '', more = false,
}) {
  if (prefix !== '') {
    if (shown === 0) return `Nobody here has a name starting with “${prefix}”.`;
    const who = shown === 1 ? '1 person' : `${count(shown)} people`;
    return `${more ? 'First ' : ''}${who} whose name starts with “${prefix}”${more ? '; scroll for more' : ''}.`;
  }
  if (complete) return '';
  return `Showing ${count(shown)} of ${count(size)} people${shown < size ? '; scroll for more, or search by name' : ''}.`;
}

/** The typing line for the nicknames typing, as a sentence ([] when nobody is). */
export function typing(names) {
  if (names.length === 1) return sentence`${nameIn(names[0])} is typing…`;
  if (names.length === 2) return sentence`${nameIn(names[0])} and ${nameIn(names[1])} are typing…`;
  if (names.length > 2) return ['several people are typing…'];
  return [];
}

/** typing() as plain text ('' when nobody is). */
export const typingText = (names) => plainText(typing(names));

/**
 * The document's title: the room, after a badge while the tab is hidden
 * and messages came: "(5)" for five unread, "(@2 · 5)" when two of them
 * mention the reader.
 */
export function titleText(room, unread, mentions) {
  let badge = '';
  if (mentions > 0) badge = `(@${mentions} · ${unread}) `;
  else if (unread > 0) badge = `(${unread}) `;
  return `${badge}#${room} — Parley`;
}

const CONN_TEXT = {
  idle: () => 'Not connected',
  connecting: () => 'Connecting…',
  connected: () => 'Connected',
  reconnecting: (_, online) => (online === false ? 'Offline; reconnecting' : 'Reconnecting'),
  offline: (detail) => (detail ? `Offline (${detail})` : 'Offline'),
};

/** The connection state's text; `online` is navigator.onLine. */
export function connText(kind, detail, online) {
  return CONN_TEXT[kind](detail, online);
}

/** The reconnect countdown after the state text: " in 3 s…", or "…" when due. */
export function countdownText(retryAt, now) {
  const seconds = Math.ceil((retryAt - now) / 1000);
  return seconds > 0 ? ` in ${seconds} s…` : '…';
}

/** The message box's counter: '' until COUNTER_FROM of `max` is used. */
export const COUNTER_FROM = 0.9;

/**
 * What is left to type ({left, over, text}), or null when the counter
 * stays hidden. Past the limit it says by how much, and `over` is true.
 */
export function charsLeft(used, max) {
  if (!max || used < max * COUNTER_FROM) return null;
  if (used > max) return { left: 0, over: true, text: overLimitText(used, max) };
  const left = max - used;
  return { left, over: false, text: left === 1 ? '1 character left' : `${count(left)} characters left` };
}
