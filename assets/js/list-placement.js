/*
 * Where an item goes among the others in the message list, so that the
 * list reads as a conversation: a date line (li.day-separator) opens each
 * day, and a sender's messages a few minutes apart share one name and
 * time (li.continued); timeline.js holds the rules, this applies them to
 * the items as drawn (li.message[data-nick][data-ts]).
 *
 * Owns: nothing; it reads the items it is given and returns what to
 * insert, or fixes the classes at the list's top.
 * Must not touch: the list's scroll, its other items, or any state
 * (message-list.js inserts and trims).
 */

import { dayLine } from './message-items.js';
import { continues, dayKey } from './timeline.js';

/** A message from the server, as drawn: {nick, ts} of an li.message[data-ts]. */
export function shownMessage(li) {
  if (!li || !li.matches('li.message[data-ts]')) return null;
  return { nick: li.dataset.nick, ts: Number(li.dataset.ts) };
}

/**
 * The item above `li` that says which day it is (a message or a date
 * line), skipping notices; from `prev` upwards.
 */
function datedAbove(prev) {
  let node = prev;
  while (node && !node.matches('li.message[data-ts], li.day-separator')) node = node.previousElementSibling;
  return node;
}

/** The day (timeline.js's dayKey) of a message or a date line. */
export function dayOf(node) {
  return node.classList.contains('day-separator') ? node.dataset.day : dayKey(Number(node.dataset.ts));
}

/**
 * Fits message `li` in below `prev` (null at the top): a date line before
 * it when its day differs from the last one above, else li.continued when
 * it runs on from the message just above (timeline.js). A notice (which
 * happens now) gets a date line only when the day above is another one.
 * Returns the nodes to insert, in order.
 */
export function placed(li, prev) {
  const dated = datedAbove(prev);
  if (li.classList.contains('notice')) {
    const now = Date.now();
    return dated && dayOf(dated) !== dayKey(now) ? [dayLine(now), li] : [li];
  }
  const here = shownMessage(li);
  if (!here) return [li];
  li.classList.remove('continued');
  if (!dated || dayOf(dated) !== dayKey(here.ts)) return [dayLine(here.ts), li];
  if (continues(shownMessage(prev), here)) li.classList.add('continued');
  return [li];
}

/** The list's first item after any "Beginning of the room" line. */
export function firstBelowStart(list) {
  let first = list.firstElementChild;
  while (first && first.classList.contains('history-start')) first = first.nextElementSibling;
  return first;
}

/** The top of the list after trimming or prepending: a first message heads its group. */
export function tidyTop(list) {
  const first = firstBelowStart(list);
  if (first && first.classList.contains('message')) first.classList.remove('continued');
}

/**
 * Older items were put above the old top `top` (its first item below the
 * start line; `anchor` is the first old item that stays, `top` itself
 * unless that is a date line), the last of them `prev`: a date line of
 * the same day goes, and the groups join.
 */
export function joinAtOldTop(list, top, anchor, prev) {
  let old = top;
  if (old.classList.contains('day-separator') && old.dataset.day === dayOf(prev)) {
    old.remove();
    old = anchor;
  }
  if (old.classList.contains('message') && old.previousElementSibling === prev
      && continues(shownMessage(prev), shownMessage(old))) {
    old.classList.add('continued');
  }
  tidyTop(list);
}
