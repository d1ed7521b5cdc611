/*
 * The requests for older messages in flight: each `history` frame gets a
 * ref of its own, and the page (or the error) that answers it settles the
 * caller's promise. A request cannot outlive its link: one unanswered
 * when the link drops or the client closes is rejected then.
 *
 * Owns: nothing of its own: the requests in flight are a requests.js
 * table (refs `h1`, `h2`, ...).
 * Must not touch: the DOM, the network (it sends through `send`), or the
 * session's state: the caller says whether a request may go and which
 * room and nickname its answer belongs to.
 */

import { ParleyError } from './outbox.js';
import { createRequests } from './requests.js';
import { quiet } from './waiters.js';

/** Messages a history request asks for when the caller names no limit. */
export const HISTORY_PAGE = 50;

/**
 * The history requests. `send(frame) -> bool` sends on the link;
 * `emit(name, detail)` reports each answer as a `history` event.
 */
export function createHistoryRequests({ send, emit }) {
  const requests = createRequests('h');

  return {
    /**
     * Asks for up to `limit` messages before id `before`; rejects at once
     * with `not_joined` unless `joined`, or `link_lost` when it cannot go.
     */
    ask({ before, limit = HISTORY_PAGE }, joined) {
      return quiet((resolve, reject) => {
        if (!joined) {
          reject(new ParleyError('not_joined', 'not in a room'));
          return;
        }
        const ref = requests.nextRef();
        if (!send({ type: 'history', before, limit, ref })) {
          reject(new ParleyError('link_lost', 'no connection'));
          return;
        }
        requests.wait(ref, { resolve, reject });
      });
    },

    /** A `history` frame: the page of room `room`, in which we are `nick`. */
    answer(h, room, nick) {
      const waiter = requests.take(h.ref);
      if (!waiter) return;
      const messages = (Array.isArray(h.messages) ? h.messages : []).map((m) => {
        const out = { ...m, room, own: m.nick === nick };
        delete out.type;
        return out;
      });
      const detail = { ref: h.ref, before: h.before, messages, more: !!h.more, room };
      emit('history', detail);
      waiter.resolve(detail);
    },

    /** An error frame: whether it answered one of ours (whose promise rejects). */
    refused: (e) => requests.refused(e),

    /** Every request in flight rejects with `error()` (the link or the client closed). */
    failAll: (error) => requests.failAll(error),
  };
}
