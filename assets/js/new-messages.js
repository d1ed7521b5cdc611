/*
 * Messages arriving, and what the reader has not seen of them: someone
 * else's message that comes while the list is scrolled up or the tab is
 * hidden may get the "New" divider (li.unread-divider) above it, and the
 * jump button (#jump-new) counts such messages while the end is out of
 * view; reaching the end with the tab visible catches the reader up.
 * unread.js holds the rules.
 *
 * Owns: the UnreadMarker, the divider's place, and #jump-new.
 * Must not touch: the title's unread count (room-title.js), or the list
 * beyond putting items in through message-list.js. It draws only when
 * called.
 */

import { byId } from './dom.js';
import { messageItem, unreadDivider } from './message-items.js';
import { atEnd, insertItem, noteScrolled, replaceItems, scrollToEnd } from './message-list.js';
import { UnreadMarker, jumpText } from './unread.js';

/** Messages that came while the reader could not see them (unread.js). */
const marker = new UnreadMarker();

/** The "new messages" divider, if drawn. */
function divider() {
  return byId('messages').querySelector(':scope > li.unread-divider');
}

/** The jump button: shown while messages came unseen and the end is out of view. */
function drawJump() {
  const button = byId('jump-new');
  const show = marker.unseen > 0 && !atEnd();
  button.hidden = !show;
  if (show) button.querySelector('.jump-count').textContent = jumpText(marker.unseen);
}

/** The reader has the end in view with the tab visible: nothing is unseen. */
export function catchUp() {
  if (!document.hidden && atEnd() && marker.caughtUp()) drawJump();
}

/**
 * A message from the server (message-items.js's messageItem); `me` is the
 * reader's nickname. Someone else's message the reader cannot see arrive
 * (the list is scrolled up, or the tab hidden) may get the "new messages"
 * divider above it and is counted on the jump button.
 */
export function addMessage(m, own, me) {
  const li = messageItem(m, own, me);
  if (own) {
    marker.ownMessage();
    divider()?.remove();
    insertItem(li);
    drawJump();
    return;
  }
  const { divider: mark } = marker.arrived(atEnd() && !document.hidden);
  if (mark) {
    divider()?.remove();
    insertItem(unreadDivider());
  }
  insertItem(li);
  drawJump();
}

/** The jump button was pressed: to the end, where the new messages are. */
export function jumpToEnd() {
  scrollToEnd();
  catchUp();
  drawJump();
  byId('message-input').focus();
}

/** Empties the list but for `items` (another room's messages go): nothing is unseen. */
export function resetMessages(items) {
  replaceItems(items);
  marker.reset();
  drawJump();
}

/**
 * The user scrolled the list: follow its end only while it is there, and
 * reaching it catches the reader up (the jump button goes).
 */
export function noteScroll() {
  noteScrolled();
  catchUp();
}
