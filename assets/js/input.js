/*
 * What the user does on the page, wired to the chat: the nickname form,
 * the message box (message-box.js), the roster toggle with Escape to close
 * it, the roster's search box, and the jump to new messages.
 *
 * Owns: the controls' event handlers outside the message box.
 * Must not touch: the network or any other module's state: it asks the
 * chat (chat.js: joinAs, rosterOpened, searchRoster) and the view. The
 * DOM is touched only when called (never on import).
 */

import { roomAdvice } from './wording.js';
import { startMessageBox } from './message-box.js';
import * as view from './view.js';

export { applyLimits, commandOutcome } from './message-box.js';

const $ = (id) => document.getElementById(id);

/** The chat, from start(). */
let session = null;

function onNickSubmit(event) {
  event.preventDefault();
  const nick = $('nick-input').value.trim();
  if (!nick) {
    view.showNickError('Please choose a nickname.');
    return;
  }
  if (session.isAwaitingWelcome()) return;
  view.showNickError('');
  // A room the server would refuse is said against the room (it is the
  // address's fault, not the nickname's), with a room to go to instead.
  const advice = roomAdvice(session.currentRoom());
  if (advice) {
    view.showRoomAdvice(advice, { focus: true });
    return;
  }
  session.joinAs(nick);
}

/** Wires the controls to `deps.session` (the chat) and `deps.typing`. */
export function start(deps) {
  ({ session } = deps);
  $('nick-form').addEventListener('submit', onNickSubmit);
  startMessageBox(deps);
  $('roster-toggle').addEventListener('click', () => {
    view.toggleRoster();
    // A big room's list, folded away until now, may need its first page,
    // or asking again (someone left unnamed meanwhile).
    if (view.rosterShown()) session.rosterOpened();
  });
  const search = $('roster-search');
  search.addEventListener('input', () => session.searchRoster(search.value));
  $('roster-search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    session.searchRoster(search.value);
  });
  $('jump-new').addEventListener('click', () => view.jumpToEnd());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && view.isRosterOpen()) {
      view.toggleRoster(false);
      $('roster-toggle').focus();
    }
  });
  $('nick-input').focus();
}
