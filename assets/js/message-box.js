/*
 * The message box: Enter sends, Shift+Enter adds a line; it grows with its
 * text and counts the characters left near the limit; the commands typed
 * into it (/join, /nick, /help; // sends a message that begins with /)
 * run from here. After a message is sent the focus is back in the box.
 *
 * The box takes text of any length, so a paste is never cut short: a
 * message over the limit stays in the box, is not sent, and the counter
 * says by how much ("2,345 characters; the limit is 2,000"). A command
 * stays in the box when the page can tell it would be refused (a room
 * name or nickname the server would refuse), and comes back into an empty
 * box when the server refuses it (commandOutcome).
 *
 * Owns: #message-input's value and height, #char-count, the limits from
 * the welcome, and the commands sent and not yet answered.
 * Must not touch: the network or any other module's state: it asks the
 * chat (say, switchRoom, changeNick), the typing reporter and the view.
 */

import { charsLeft } from './format.js';
import { charCount } from './wording.js';
import { HELP, commandProblem, readComposer, tooLong } from './commands.js';
import * as view from './view.js';

const $ = (id) => document.getElementById(id);

/** The most characters a message may have (the welcome's limits); undefined until known. */
let maxChars;
/** The most characters a nickname may have (the welcome's limits); undefined until known. */
let maxNickChars;
/** Commands sent and not answered yet: name ('join', 'nick') -> the text typed. */
const unanswered = new Map();
/** What the box works with, from startMessageBox(). */
let session = null;
let typing = null;

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

/** Wires the message box to `deps.session` (the chat) and `deps.typing`. */
export function startMessageBox(deps) {
  ({ session, typing } = deps);
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
}
