/*
 * What the user does on the page: the nickname form, the message box
 * (Enter sends, Shift+Enter adds a line; it grows with its text and counts
 * the characters left near the limit), the commands typed into it (/join,
 * /nick, /help; // sends a message that begins with /), and the roster
 * toggle with Escape to close it.
 *
 * The box takes text of any length, so a paste is never cut short: a
 * message over the limit stays in the box, is not sent, and the counter
 * says by how much ("2,345 characters; the limit is 2,000").
 *
 * Owns: the controls' event handlers, the message box's value and height,
 * and the message length limit from the welcome.
 * Must not touch: the network or any other module's state: it asks the
 * session (joinAs, say, switchRoom, changeNick), the typing reporter and
 * the view. readComposer(), parseCommand() and tooLong() are pure, for
 * tests; the rest touches the DOM only when called (never on import).
 */

import { charsLeft } from './format.js';
import { charCount } from './wording.js';
import * as view from './view.js';

const $ = (id) => document.getElementById(id);

const HELP = 'Commands: /join room (switch rooms), /nick name (change nickname), /help. ' +
  'Start a message with // to send one that begins with /.';

/** The most characters a message may have (the welcome's limits); undefined until known. */
let maxChars;
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

/** The limits of a welcome: the box refuses what the server would. */
export function applyLimits(limits) {
  maxChars = limits && limits.max_message_chars;
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
  const read = readComposer($('message-input').value);
  if (read.kind === 'nothing') return;
  if (read.kind === 'command') {
    if (runCommand(read)) clearComposer();
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
}

function clearComposer() {
  $('message-input').value = '';
  autoGrow();
  updateCounter();
  typing.stop();
}

/** Runs a /command; false leaves the text in the box to be corrected. */
function runCommand({ name, arg }) {
  switch (name.toLowerCase()) {
    case 'join': {
      const room = arg.replace(/^#/, '').toLowerCase();
      if (!room) {
        view.notice('Usage: /join roomname', 'error');
        return false;
      }
      session.switchRoom(room);
      return true;
    }
    case 'nick':
      if (!arg) {
        view.notice('Usage: /nick newname', 'error');
        return false;
      }
      return session.changeNick(arg);
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
  $('roster-toggle').addEventListener('click', () => view.toggleRoster());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && view.isRosterOpen()) {
      view.toggleRoster(false);
      $('roster-toggle').focus();
    }
  });
  $('nick-input').focus();
}
