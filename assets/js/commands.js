/*
 * The message box's reading, pure: whether it holds a message, a command
 * (/join, /nick, /help) or nothing, whether a message is over the limit,
 * and why the page refuses a command before sending it.
 *
 * Owns: nothing; no state, no DOM.
 */

import {
  charCount, nickProblem, roomProblem,
} from './wording.js';

/** What /help says (and an unknown command after its complaint). */
export const HELP = 'Commands: /join room (switch rooms), /nick name (change nickname), /help. ' +
  'Start a message with // to send one that begins with /.';

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
