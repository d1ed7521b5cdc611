/*
 * What the chat says about itself, rather than about people: leaving one
 * room for another, with the messages dropped on the way; the one line a
 * link drop gets ("Connection lost; reconnecting…", reworded once back,
 * saying messages may be missing only when the server says so); a gap in
 * what was missed; the store degraded and recovered; another window
 * taking over; leaving; and the library's own notices.
 *
 * Owns: the one reconnect line (the view's item) of the current drop.
 * Must not touch: the DOM or the network; it draws through the `view` it
 * is given and hears `degraded`, `left` and `notice` from `client`.
 */

import { reconnectedText } from './wording.js';

/** The chat's own lines. Arguments: `client` (a ParleyClient) and `view`. */
export function createLines({ client, view }) {
  /** "Connection lost; reconnecting…", reworded once back (one line per drop). */
  let lostLine = null;

  function onDegraded({ degraded }) {
    view.showDegraded(degraded);
    if (degraded) {
      view.notice('The chat is degraded: the server cannot store messages right now. Your messages wait and are sent when it recovers.', 'error');
    } else {
      view.notice('The chat has recovered.');
    }
  }

  client.on('left', (l) => view.notice(`You left #${l.room}.`));
  client.on('degraded', onDegraded);
  client.on('notice', ({ text }) => view.notice(text));

  return {
    /** Welcomed into another room than before: say so, and what was dropped. */
    switched(w) {
      if (w.previousRoom !== null) view.notice(`You left #${w.previousRoom} and joined #${w.room}.`);
      if (w.dropped > 0) view.notice(`${w.dropped} unsent message(s) meant for #${w.previousRoom} were dropped.`, 'error');
    },

    /**
     * Welcomed: the drop's line, reworded, or a gap said. A handover
     * (another tab of this browser took over the shared connection) is no
     * reconnect the user need hear of, unless something was missed.
     */
    welcomed(w) {
      const quietHandover = w.handover && !w.gap && !w.renumbered;
      if (w.kind === 'rejoin' && !quietHandover) {
        lostLine = view.reword(lostLine, reconnectedText(w), w.renumbered ? 'error' : undefined);
      } else if (w.gap) {
        view.notice('Some messages were missed while you were away; only the most recent ones are shown.');
      }
      lostLine = null;
    },

    /** Another window took the chat over. */
    replaced() {
      view.notice('This chat was opened in another window, so this one stopped.', 'error');
    },

    /** The link went while we were in a room: one line for the whole drop. */
    lost() {
      if (lostLine === null) lostLine = view.notice('Connection lost; reconnecting…');
    },
  };
}
