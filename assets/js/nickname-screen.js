/*
 * The two screens, and the nickname screen's own lines: which screen is
 * shown (body[data-view], #login-view or #chat-view), the reason a join
 * failed (#nick-error), why the address's room cannot be joined
 * (#room-error, with a#room-suggestion offering one that can), and
 * "Waiting for the server…" by the Join button (#join-status).
 *
 * Owns: which screen is shown, and the DOM of #login-view but for the
 * nickname box's value, which it sets only when told (input.js owns it).
 * Must not touch: the chat screen's contents, or the room's name
 * (room-title.js). The server's reasons reach the DOM only as text.
 */

import { byId, el } from './dom.js';

/** 'login' or 'chat'. */
let screen = 'login';

export function isChat() {
  return screen === 'chat';
}

/** The nickname screen as the page first shows it, with the nickname remembered. */
export function showFirst(nick) {
  screen = 'login';
  document.body.dataset.view = 'login';
  byId('nick-input').value = nick;
}

/**
 * The nickname screen, with `error` (the server's reason) and the
 * nickname to correct; `about` 'room' when the reason is the room's (it
 * shows against the room, and the nickname stays valid).
 */
export function showLogin(error, nick, about = 'nick') {
  screen = 'login';
  document.body.dataset.view = 'login';
  document.body.classList.remove('roster-open');
  byId('chat-view').hidden = true;
  byId('login-view').hidden = false;
  showJoinStatus('');
  const input = byId('nick-input');
  if (nick) input.value = nick;
  if (about === 'room') {
    showNickError('');
    showRoomAdvice(error ? { text: error, suggestion: null } : null);
    input.focus();
    return;
  }
  showNickError(error || '');
  input.focus();
  if (error) input.select();
}

export function showNickError(text) {
  byId('nick-error').textContent = text;
  byId('nick-input').setAttribute('aria-invalid', text ? 'true' : 'false');
}

/**
 * #room-error on the nickname screen: why the room cannot be joined
 * ({text, suggestion} from wording.js's roomAdvice, or null for none),
 * with a link to the suggested room (a#room-suggestion) when there is one.
 * `focus` moves the keyboard to that link (the Join was refused for it).
 */
export function showRoomAdvice(advice, { focus = false } = {}) {
  const line = byId('room-error');
  if (!advice) {
    line.replaceChildren();
    return;
  }
  line.replaceChildren(document.createTextNode(advice.text));
  if (advice.suggestion) {
    const link = el('a', '', `Join #${advice.suggestion} instead`);
    link.id = 'room-suggestion';
    link.href = `#${advice.suggestion}`;
    line.append(' ', link);
    if (focus) link.focus();
  }
}

/** #join-status by the Join button: "Waiting for the server…" while the join waits for the link. */
export function showJoinStatus(text) {
  byId('join-status').textContent = text;
}

export function showChat() {
  if (screen === 'chat') return;
  showJoinStatus('');
  showRoomAdvice(null);
  screen = 'chat';
  document.body.dataset.view = 'chat';
  byId('login-view').hidden = true;
  byId('chat-view').hidden = false;
  byId('message-input').focus();
}
