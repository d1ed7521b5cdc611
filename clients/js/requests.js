/*
 * Requests answered by ref (`history`, `roster`): each gets a ref of its
 * own, with a prefix naming its kind, and the answer (or the error frame)
 * carrying that ref settles the caller's promise. A request cannot outlive
 * its link: one unanswered when the link drops or the client closes is
 * rejected then.
 *
 * Owns: the requests of one kind in flight (ref -> waiter) and their ref
 * counter.
 * Must not touch: the network or the frames' contents: the kinds' modules
 * (history-requests.js, roster-requests.js) send and read them.
 */

import { ParleyError } from './outbox.js';

/** Requests whose refs start with `prefix`. */
export function createRequests(prefix) {
  /** ref -> {resolve, reject, ...what the kind keeps}. */
  const waiting = new Map();
  let counter = 0;

  return {
    /** A fresh ref. */
    nextRef() {
      counter += 1;
      return `${prefix}${counter}`;
    },

    /** Waits for the answer to `ref`. */
    wait(ref, waiter) {
      waiting.set(ref, waiter);
    },

    /** The waiter of `ref`, no longer waiting; undefined if none. */
    take(ref) {
      const waiter = ref === undefined ? undefined : waiting.get(ref);
      if (waiter) waiting.delete(ref);
      return waiter;
    },

    /** An error frame: whether it answered one of ours (whose promise rejects). */
    refused(e) {
      const waiter = this.take(e.ref);
      if (!waiter) return false;
      waiter.reject(new ParleyError(e.code, e.message, { frame: e, retry_ms: e.retry_ms }));
      return true;
    },

    /** Every request in flight rejects with `error()` (the link or the client closed). */
    failAll(error) {
      for (const [ref, waiter] of waiting) {
        waiting.delete(ref);
        waiter.reject(error());
      }
    },
  };
}
