/*
 * What the user does on the page: the nickname form, the message box
 * (Enter sends, Shift+Enter adds a line; it grows with its text and counts
 * the characters left near the limit), the commands typed into it (/join,
 * /nick, /help; // sends a message that begins with /), and the roster
 * toggle with Escape to close it, the roster's search box, and the jump
 * to new messages. After a
 * message is sent the focus is back in the box.
 *
 * The box takes text of any length, so a paste is never cut short: a
 * message over the limit stays in the box, is not sent, and the counter
 * says by how much ("2,345 characters; the limit is 2,000"). A command
 * stays in the box when the page can tell it would be refused (a room
 * name or nickname the server would refuse), and comes back into an empty
 * box when the server refuses it (commandOutcome).
 *
 * Owns: the controls' event handlers, the message box's value and height,
 * the limits from the welcome, and the commands sent and not yet answered.
 * Must not touch: the network or any other module's state: it asks the
 * chat (chat.js: joinAs, say, switchRoom, changeNick), the typing reporter and
 * the view. readComposer(), parseCommand(), tooLong() and commandProblem()
 * are pure, for tests; the rest touches the DOM only when called (never on
 * import).
 */

import { charsLeft } from './format.js';
import {
  charCount, nickProblem, roomAdvice, roomProblem,
} from './wording.js';
import * as view from './view.js';

const $ = (id) => document.getElementById(id);

const HELP = 'Commands: /join room (switch rooms), /nick name (change nickname), /help. ' +
  'Start a message with // to send one that begins with /.';

/** The most characters a message may have (the welcome's limits); undefined until known. */
let maxChars;
/** The most characters a nickname may have (the welcome's limits); undefined until known. */
let maxNickChars;
/** Commands sent and not answered yet: name ('join', 'nick') -> the text typed. */
const unanswered = new Map();
/** What the handlers work with, from start(). */
let session = null;
let typing = null;

/**
 * What the message box holds: {kind: 'nothing'}, {kind: 'command', name,
 * arg}, or {kind: 'say', text} (a leading // becomes /).
 */
export function readComposer(raw) {
  if (!raw.trim()) return { kind: 'nothing' };
  if (raw.startsWith('/') && !raw.startsWith('//')) return { kind: 'command', ...parseCommand(raw) };
  return { kind: 'say', text: raw.startsWith('//') ? raw.slice(1) : raw };
}

/** "/name  the rest " -> {name, arg: 'the rest'}. */
export function parseCommand(raw) {
  const [, name, rest] = raw.match(/^\/(\S*)\s*([\s\S]*)$/);
  return { name, arg: rest.trim() };
}

/** Whether `text` has more characters (code points, as the server counts) than `max`. */
export function tooLong(text, max) {
  return Boolean(max) && charCount(text) > max;
}

/**
 * Why the page refuses a /join or /nick before sending it (a sentence),
 * or null: the room name or nickname the server would refuse. For /join,
 * `arg` is the room as the session will send it; `maxNick` is the
 * welcome's max_nick_chars.
 */
export function commandProblem(name, arg, maxNick) {
  if (name === 'join') return roomProblem(arg);
  if (name === 'nick') return nickProblem(arg, maxNick);
  return null;
}

/** The limits of a welcome: the box refuses what the server would. */
export function applyLimits(limits) {
  maxChars = limits && limits.max_message_chars;
  maxNickChars = limits && limits.max_nick_chars;
  updateCounter();
}

function updateCounter() {
  const counter = $('char-count');
  const box = $('message-input');
  // Counted as the server counts: characters, not UTF-16 units.
  const left = charsLeft(charCount(box.value), maxChars);
  box.setAttribute('aria-invalid', left && left.over ? 'true' : 'false');
  if (!left) {
    counter.textContent = '';
    counter.classList.remove('at-limit');
    return;
  }
  counter.textContent = left.text;
  counter.classList.toggle('at-limit', left.left === 0);
}

function autoGrow() {
  const input = $('message-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
}

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

function onMessageKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing &&
      !event.altKey && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    submitMessage();
  }
}

function submitMessage() {
  const raw = $('message-input').value;
  const read = readComposer(raw);
  if (read.kind === 'nothing') return;
  if (read.kind === 'command') {
    if (runCommand(read, raw)) clearComposer();
    return;
  }
  if (tooLong(read.text, maxChars)) {
    // The counter already says by how much; the text stays to be shortened.
    updateCounter();
    $('message-input').focus();
    return;
  }
  typing.stop();
  session.say(read.text);
  clearComposer();
  // The Send button took the focus; the next message starts in the box.
  $('message-input').focus();
}

function clearComposer() {
  $('message-input').value = '';
  autoGrow();
  updateCounter();
  typing.stop();
}

/**
 * How a /join or /nick sent to the server ended: refused, its text comes
 * back into the box if the box is still empty, to be corrected.
 */
export function commandOutcome(name, ok) {
  const text = unanswered.get(name);
  unanswered.delete(name);
  if (ok || text === undefined) return;
  const box = $('message-input');
  if (box.value.trim() !== '') return;
  box.value = text;
  autoGrow();
  updateCounter();
}

/** Runs a /command (`raw` as typed); false leaves the text in the box to be corrected. */
function runCommand({ name, arg }, raw) {
  switch (name.toLowerCase()) {
    case 'join': {
      const room = arg.replace(/^#/, '').toLowerCase();
      if (!room) {
        view.notice('Usage: /join roomname', 'error');
        return false;
      }
      const problem = commandProblem('join', room);
      if (problem) {
        view.notice(problem, 'error');
        return false;
      }
      unanswered.set('join', raw);
      session.switchRoom(room);
      return true;
    }
    case 'nick': {
      if (!arg) {
        view.notice('Usage: /nick newname', 'error');
        return false;
      }
      const problem = commandProblem('nick', arg, maxNickChars);
      if (problem) {
        view.notice(problem, 'error');
        return false;
      }
      unanswered.set('nick', raw);
      const sent = session.changeNick(arg);
      if (!sent) unanswered.delete('nick');
      return sent;
    }
    case 'help':
      view.notice(HELP);
      return true;
    default:
      view.notice(`Unknown command /${name}. ${HELP}`, 'error');
      return false;
  }
}

/** Wires the controls to `deps.session` and `deps.typing`. */
export function start(deps) {
  ({ session, typing } = deps);
  $('nick-form').addEventListener('submit', onNickSubmit);
  $('message-form').addEventListener('submit', (event) => {
    event.preventDefault();
    submitMessage();
  });
  const input = $('message-input');
  input.addEventListener('keydown', onMessageKey);
  input.addEventListener('input', () => {
    autoGrow();
    updateCounter();
    typing.note(input.value);
  });
  $('roster-toggle').addEventListener('click', () => {
    view.toggleRoster();
    // A big room's list, folded away until now, may need its first page.
    if (view.rosterNearEnd()) session.rosterNearEnd();
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
