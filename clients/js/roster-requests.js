/*
 * The requests for pages of the room's roster in flight (the `roster`
 * frame, protocol minor version 2): each gets a ref of its own, and the
 * page (or the error) that answers it settles the caller's promise. As
 * with history pages, a request cannot outlive its link: one unanswered
 * when the link drops or the client closes is rejected then.
 *
 * Owns: nothing of its own: the requests in flight are a requests.js
 * table (refs `r1`, `r2`, ...).
 * Must not touch: the DOM, the network (it sends through `send`), or the
 * session's state: the caller says whether a request may go.
 */

import { ParleyError } from './outbox.js';
import { createRequests } from './requests.js';
import { quiet } from './waiters.js';

/** Members a roster request asks for when the caller names no limit (the server's default). */
export const ROSTER_PAGE = 50;

/** The protocol minor version that brought the `roster` frame. */
export const ROSTER_MINOR = 2;

/**
 * The roster requests. `send(frame) -> bool` sends on the link;
 * `emit(name, detail)` reports each answer as a `roster` event.
 */
export function createRosterRequests({ send, emit }) {
  const requests = createRequests('r');

  return {
    /**
     * Asks for up to `limit` members after `after` whose nicknames start
     * with `prefix` (either may be absent). Rejects at once with
     * `not_joined` unless `joined`, `unsupported` when the server is older
     * than minor 2 (`minor` is its welcome's), or `link_lost` when it
     * cannot go.
     */
    ask({ after, prefix, limit = ROSTER_PAGE }, { joined, minor }) {
      return quiet((resolve, reject) => {
        if (!joined) {
          reject(new ParleyError('not_joined', 'not in a room'));
          return;
        }
        if (!(minor >= ROSTER_MINOR)) {
          reject(new ParleyError('unsupported', 'the server is older than the roster in pages (minor 2)'));
          return;
        }
        const ref = requests.nextRef();
        const frame = { type: 'roster' };
        if (typeof after === 'string') frame.after = after;
        if (typeof prefix === 'string' && prefix !== '') frame.prefix = prefix;
        frame.limit = limit;
        frame.ref = ref;
        if (!send(frame)) {
          reject(new ParleyError('link_lost', 'no connection'));
          return;
        }
        requests.wait(ref, { resolve, reject, after: frame.after, prefix: frame.prefix });
      });
    },

    /** A `roster` frame: whether it answered one of ours (whose promise resolves). */
    answer(r) {
      const waiter = requests.take(r.ref);
      if (!waiter) return false;
      const members = (Array.isArray(r.members) ? r.members : [])
        .filter((m) => m && typeof m.nick === 'string')
        .map((m) => ({ nick: m.nick, typing: !!m.typing }));
      const detail = {
        ref: r.ref,
        after: waiter.after,
        prefix: waiter.prefix,
        members,
        next: typeof r.next === 'string' ? r.next : null,
        count: r.count,
      };
      emit('roster', detail);
      waiter.resolve(detail);
      return true;
    },

    /** An error frame: whether it answered one of ours (whose promise rejects). */
    refused: (e) => requests.refused(e),

    /** Every request in flight rejects with `error()` (the link or the client closed). */
    failAll: (error) => requests.failAll(error),
  };
}
