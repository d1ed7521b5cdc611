/*
 * Our own typing indicator: tells the room when this user starts typing,
 * renews that while typing goes on (the server ends an indicator not
 * renewed within 8 s), and says when it stops (message sent, box emptied,
 * or no keystroke for TYPING_IDLE_MS).
 *
 * Owns: whether we told the room we are typing, when we last did, and the
 * idle timer.
 * Must not touch: the DOM (input.js hands it the box's text), the network
 * (it tells the room through `signal`, the client library's typing()) or
 * the chat's state, which it reads only through `joined()`.
 */

import { BROWSER_IO } from './clock.js';

/** Typing is reported off after this long without a keystroke. */
export const TYPING_IDLE_MS = 3000;
/** While typing goes on, the indicator is sent again this often. */
export const TYPING_RENEW_MS = 4000;

/** A reporter telling the room through `signal(on) -> bool` while `joined()`. */
export function createTypingReporter({ signal, joined, io = {} }) {
  const clock = { ...BROWSER_IO, ...io };
  let on = false;
  let sentAt = 0;
  let timer = 0;

  function stop() {
    clock.clearTimeout(timer);
    if (!on) return;
    on = false;
    if (joined()) signal(false);
  }

  return {
    stop,

    /** The message box now holds `text`. */
    note(text) {
      // Nothing, or a command, is not a message being typed.
      if (!text.trim() || (text.startsWith('/') && !text.startsWith('//'))) {
        stop();
        return;
      }
      const now = clock.now();
      if (joined() && (!on || now - sentAt > TYPING_RENEW_MS)) {
        on = signal(true);
        sentAt = now;
      }
      clock.clearTimeout(timer);
      timer = clock.setTimeout(stop, TYPING_IDLE_MS);
    },

    /** The link dropped: the server has forgotten our indicator. */
    linkLost() {
      on = false;
      clock.clearTimeout(timer);
    },
  };
}
