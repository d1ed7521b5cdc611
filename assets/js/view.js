/*
 * The view: everything the page draws (templates/index.html, styled by
 * chat.css), gathered into the one set of drawing calls that chat.js,
 * older.js, input.js and main.js use (`import * as view`), and the page as
 * it first appears. The stable hooks the browser tests rely on are listed
 * in main.js. The parts, each owning its own piece of the page:
 *   message-list.js     #messages: items in and out, notices, older messages
 *                       above, "sending…" items, the empty room's greeting
 *   new-messages.js     messages arriving; the "New" divider and #jump-new
 *   message-items.js    what one item of the list looks like (no state)
 *   list-placement.js   date lines and groups among the items (no state)
 *   roster-panel.js     #roster-panel and the #typing line
 *   nickname-screen.js  which screen shows, and the nickname screen's lines
 *   room-title.js       the room's name, and the unread count in the title
 *   link-status.js      #conn-state and its countdown, #refused, #transport,
 *                       #slow-down
 *   dom.js              the element builders they share
 *
 * User text (nicknames, messages, the server's error messages) reaches
 * the DOM only through textContent and text nodes, never as HTML.
 *
 * Owns: nothing of its own; the parts hold the state.
 * Must not touch: the network, storage, or any other module's state; it
 * draws what it is told, and touches the DOM only when called (never on
 * import).
 */

import { showFirst } from './nickname-screen.js';
import { showRoom } from './room-title.js';
import { showTransport } from './link-status.js';

export {
  MAX_RENDERED, dropItem, markFailed, nearTop, notice, prependMessages, reword,
  addPending, relabelDays, scrollIfFollowing, scrollToEnd, showBeginning, showEmptyRoom,
} from './message-list.js';
export { addMessage, jumpToEnd, noteScroll, resetMessages } from './new-messages.js';
export {
  isRosterOpen, markRosterStale, rosterNearEnd, rosterShown, showRoster, showTyping, toggleRoster,
} from './roster-panel.js';
export {
  isChat, showChat, showJoinStatus, showLogin, showNickError, showRoomAdvice,
} from './nickname-screen.js';
export { noteUnread, readAll, showRoom } from './room-title.js';
export {
  showConnState, showDegraded, showRefused, showSlowDown, showTransport, stopCountdown,
} from './link-status.js';

/** The page as it first appears: the nickname screen. */
export function start({ room, nick, transport, why }) {
  showFirst(nick);
  showTransport(transport, why);
  showRoom(room);
}
