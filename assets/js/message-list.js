/*
 * The message list (#messages): putting items in (before the pending
 * placeholders, which stay last until acknowledged), trimming it to
 * MAX_RENDERED, older messages above the others without moving what is in
 * view (under "Beginning of the room" once there are no more), notices
 * and the one that is reworded in place, our messages still "sending…",
 * the empty room's greeting with who is there, and following the list's
 * end while the reader is there.
 *
 * Owns: the items of #messages and whether the list follows its end, and
 * who else is here, for the empty room's greeting.
 * Must not touch: what an item looks like (message-items.js), where it
 * goes among the others (list-placement.js), what the reader has not seen
 * (new-messages.js), or anything outside #messages. It draws only when
 * called. User text reaches the DOM only as text.
 */

import { byId, el, sentenceNodes } from './dom.js';
import { messageItem, noticeClass, pendingItem, relabelDayLine } from './message-items.js';
import { firstBelowStart, joinAtOldTop, placed, tidyTop } from './list-placement.js';

/** Rendered list items kept; older ones are removed so memory stays flat. */
export const MAX_RENDERED = 1000;

/** The list is scrolled to its end, so new items keep it there. */
let following = true;
/** Who else is here, for the empty room's greeting (from the last showRoster). */
let emptyHere = '';

const list = () => byId('messages');

/** Whether the end of the list is in view (or near it). */
export function atEnd() {
  const messages = list();
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 48;
}

/**
 * Adds an item before the pending placeholders (they stay last until
 * acknowledged) and trims the oldest items past MAX_RENDERED. A message
 * of anyone's ends the empty room's greeting.
 */
export function insertItem(li) {
  const messages = list();
  following = atEnd();
  const firstPending = messages.querySelector(':scope > li.pending');
  const before = li.classList.contains('pending') ? null : firstPending;
  if (li.classList.contains('message')) messages.querySelector(':scope > li.empty-room')?.remove();
  const prev = before ? before.previousElementSibling : messages.lastElementChild;
  for (const node of placed(li, prev)) messages.insertBefore(node, before);
  let trimmed = false;
  while (messages.children.length > MAX_RENDERED && !messages.firstElementChild.classList.contains('pending')) {
    messages.firstElementChild.remove();
    trimmed = true;
  }
  if (trimmed) tidyTop(messages);
}

/** Empties the list but for `items` (another room's messages go). */
export function replaceItems(items) {
  list().replaceChildren(...items);
}

/**
 * Puts `nodes` at the top of the list, keeping what is in view where it
 * is: the distance from the list's end stays the same, and everything
 * from the old top down moves by what was added.
 */
function prependKeepingView(nodes) {
  const messages = list();
  const fromEnd = messages.scrollHeight - messages.scrollTop;
  messages.prepend(...nodes);
  messages.scrollTop = messages.scrollHeight - fromEnd;
}

/**
 * Older messages ([{message, own, me}], oldest first) above all the
 * others, with their date lines and groups; where they meet the old top,
 * a date line of the same day goes and the groups join.
 */
export function prependMessages(items) {
  const messages = list();
  const nodes = [];
  let prev = null;
  for (const { message, own, me } of items) {
    const li = messageItem(message, own, me);
    nodes.push(...placed(li, prev));
    prev = li;
  }
  if (nodes.length === 0) return;
  messages.querySelector(':scope > li.empty-room')?.remove();
  // The old top, under "Beginning of the room" if that was there; what is
  // in view stays put by keeping the first old item that stays where it
  // was on the screen (the date line above it may go).
  const top = firstBelowStart(messages);
  const anchor = top && top.classList.contains('day-separator') ? top.nextElementSibling : top;
  if (!anchor) {
    prependKeepingView(nodes);
    return;
  }
  const before = anchor.getBoundingClientRect().top;
  messages.prepend(...nodes);
  joinAtOldTop(messages, top, anchor, prev);
  messages.scrollTop += anchor.getBoundingClientRect().top - before;
}

/**
 * li.notice.history-start at the top: the room has nothing older;
 * `atStart` when that is its first message, else it forgot the older ones.
 */
export function showBeginning(atStart) {
  const old = list().querySelector(':scope > li.history-start');
  if (old) old.remove();
  const text = atStart ? 'Beginning of the room' : 'Older messages are no longer kept';
  prependKeepingView([el('li', 'notice history-start', text)]);
}

/** Whether the top of the list is in view (or near it), as when it does not scroll. */
export function nearTop() {
  return list().scrollTop < 48;
}

/** A message of ours not yet acknowledged: li.message.pending[data-ref]. Returns it. */
export function addPending(ref, text, nick) {
  const li = pendingItem(ref, text, nick);
  insertItem(li);
  scrollToEnd();
  return li;
}

/** Removes an item (a pending message acknowledged or shown). */
export function dropItem(li) {
  li.remove();
}

/** A pending message the server refused: li.failed, saying why (a sentence). */
export function markFailed(li, why) {
  li.classList.replace('pending', 'failed');
  li.querySelector('.status').textContent = `Not sent. ${why}`;
}

/**
 * A line from the page rather than a person: li.notice (.error for
 * trouble). Returns it, for reword().
 */
export function notice(text, kind) {
  const li = el('li', noticeClass(kind));
  li.append(...sentenceNodes(text));
  insertItem(li);
  scrollIfFollowing();
  return li;
}

/**
 * Rewords notice `li` in place (the reconnect line: "Connection lost…"
 * becomes "Reconnected."), or adds a new one when it is no longer in the
 * list (another room, or trimmed).
 */
export function reword(li, text, kind) {
  if (!li || !li.isConnected) return notice(text, kind);
  li.replaceChildren(...sentenceNodes(text));
  li.className = noticeClass(kind);
  return li;
}

/**
 * li.empty-room: the greeting of a room with no messages yet ("No
 * messages yet in #room — say hello.", `recent` when older ones were
 * forgotten) and who else is here; it goes with the first message.
 * showHere() keeps who is here up to date.
 */
export function showEmptyRoom(room, { recent = false } = {}) {
  const messages = list();
  if (messages.querySelector(':scope > li.message')) return;
  messages.querySelector(':scope > li.empty-room')?.remove();
  const li = el('li', 'empty-room');
  li.append(
    el('p', 'empty-title', `No ${recent ? 'recent ' : ''}messages yet in #${room} — say hello.`),
    el('p', 'empty-here'),
  );
  li.lastChild.append(...sentenceNodes(emptyHere));
  messages.append(li);
}

/** Who else is here (a sentence, sentence.js), for the empty room's greeting, shown or to come. */
export function showHere(parts) {
  emptyHere = parts;
  const here = list().querySelector(':scope > li.empty-room .empty-here');
  if (here) here.replaceChildren(...sentenceNodes(emptyHere));
}

/** Says every date line again as of `now` (the day turned: day-turn.js). */
export function relabelDays(now) {
  for (const li of list().querySelectorAll(':scope > li.day-separator')) relabelDayLine(li, now);
}

export function scrollIfFollowing() {
  if (following) scrollToEnd();
}

export function scrollToEnd() {
  const messages = list();
  messages.scrollTop = messages.scrollHeight;
  following = true;
}

/** The user scrolled the list: follow its end only while it is there. */
export function noteScrolled() {
  following = atEnd();
}
