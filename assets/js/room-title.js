/*
 * The room's name everywhere it shows (#room-name in the header,
 * #login-room on the nickname screen, the message box's placeholder, and
 * the tab's title with the unread and mention counts), and, on the
 * nickname screen, why the address's room cannot be joined.
 *
 * Owns: the unread and mention counts of the title (messages that came
 * while the tab was hidden).
 * Must not touch: the message list's "New" divider and jump button
 * (new-messages.js; it only asks it to catch up), or which screen shows.
 */

import { byId } from './dom.js';
import { titleText } from './format.js';
import { catchUp } from './new-messages.js';
import { isChat, showRoomAdvice } from './nickname-screen.js';
import { roomAdvice } from './wording.js';

/** Messages that arrived while the tab was hidden. */
let unread = 0;
/** Of those, the ones that mention the reader. */
let mentioned = 0;

/**
 * The room's name everywhere it shows; on the nickname screen, also why
 * the address's room cannot be joined, if it cannot.
 */
export function showRoom(room) {
  const label = `#${room}`;
  byId('room-name').textContent = label;
  byId('login-room').textContent = label;
  byId('message-input').placeholder = `Message ${label}`;
  document.title = titleText(room, unread, mentioned);
  if (!isChat()) showRoomAdvice(roomAdvice(room));
}

/**
 * Someone else's message came (`mentions`: naming the reader); counted in
 * the title while the tab is hidden.
 */
export function noteUnread(room, mentions) {
  if (!document.hidden) return;
  unread += 1;
  if (mentions) mentioned += 1;
  showRoom(room);
}

/** The tab is visible again: nothing is unread. */
export function readAll(room) {
  catchUp();
  if (document.hidden || unread === 0) return;
  unread = 0;
  mentioned = 0;
  showRoom(room);
}
