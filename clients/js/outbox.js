/*
 * The messages the client has said and the server has not acknowledged
 * yet. Each `say` gets a unique ref. They go out one at a time, oldest
 * first: the next leaves once the previous is acknowledged. That costs a
 * round trip per message, but a rate-limited message can never be
 * overtaken by a later one, so everybody sees a person's messages in the
 * order written. While the link is down they wait here (the offline
 * queue); after a reconnect they go again with their refs, and the server
 * recognises any it already posted and only acks those, so a resend is
 * never posted twice.
 *
 * A message whose ack has not come ACK_RESEND_MS after it went, on a
 * link that stayed up, goes again with its ref: the server acks a ref it
 * already posted and posts one it never took, so whatever went astray
 * on the way (a send racing its session's end, a proxy's hiccup), the
 * message is neither stuck nor doubled.
 *
 * A message refused with `rate_limited` is never lost: it stays first in
 * line and goes again, with its ref, after the server's `retry_ms`. While
 * the rate limit holds messages back, `slowdown` events say how many wait,
 * and a last one with 0 says they have all gone out.
 *
 * Owns: the pending messages (ref -> {ref, text, room, adopted, settle}),
 * the ref counter, the ref in flight and its resend timer, the hold the server asked for (no
 * `say` before holdUntil), and whether the rate limit is holding messages
 * back.
 * Must not touch: the DOM, the network (it sends through `send`) or the
 * session's state, which it reads only through `canSend()` and `room()`.
 * What happens to a message is told through `emit(name, detail)`:
 * queued, ack, failed, slowdown.
 */

/** How long a `say` waits for its ack before it goes again (same ref). */
export const ACK_RESEND_MS = 15_000;

const DEFAULT_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => Date.now(),
  randomWords: () => globalThis.crypto.getRandomValues(new Uint32Array(2)),
};

/** An Error carrying a stable `code` (PROTOCOL.md 5.1, or one of the client's own). */
export class ParleyError extends Error {
  constructor(code, message, details = {}) {
    super(message || code);
    this.name = 'ParleyError';
    this.code = code;
    Object.assign(this, details);
  }
}

/**
 * An outbox. `send(frame) -> bool` sends on the link; `canSend()` says
 * whether the server has us in a room with no join outstanding; `room()`
 * is the room we are in or joining; `emit(name, detail)` reports.
 */
export function createOutbox({ send, canSend, room, emit, io = {} }) {
  const clock = { ...DEFAULT_IO, ...io };
  /** ref -> entry, in the order said. */
  const pending = new Map();
  let refCounter = 0;
  /** The ref of the `say` awaiting its ack (one at a time; see pump). */
  let inFlight = null;
  /** Sends the in-flight `say` again if its ack is overdue. */
  let resendTimer = 0;
  /** No `say` before this time (the server asked us to slow down). */
  let holdUntil = 0;
  let holdTimer = 0;
  /** The rate limit refused one of these messages: `slowdown` is told until all are out. */
  let slowed = false;

  function tellSlowDown() {
    if (!slowed) return;
    if (pending.size === 0) slowed = false;
    emit('slowdown', { waiting: pending.size });
  }

  function newRef() {
    const random = clock.randomWords();
    refCounter += 1;
    return `c${refCounter}-${random[0].toString(36)}${random[1].toString(36)}`;
  }

  /** Sends the oldest pending message of this room, unless one is in flight. */
  function pump() {
    if (inFlight !== null || !canSend()) return;
    const wait = holdUntil - clock.now();
    if (wait > 0) {
      clock.clearTimeout(holdTimer);
      holdTimer = clock.setTimeout(pump, wait);
      return;
    }
    for (const entry of pending.values()) {
      if (entry.room !== room()) continue;
      if (send({ type: 'say', text: entry.text, ref: entry.ref })) {
        inFlight = entry.ref;
        clock.clearTimeout(resendTimer);
        resendTimer = clock.setTimeout(() => {
          if (inFlight !== entry.ref) return;
          inFlight = null;
          pump();
        }, ACK_RESEND_MS);
      }
      return;
    }
  }

  /** `entry` will not be posted: its promise rejects with `error`. */
  function fail(entry, error) {
    pending.delete(entry.ref);
    if (inFlight === entry.ref) inFlight = null;
    emit('failed', { ref: entry.ref, text: entry.text, room: entry.room, error });
    entry.settle.reject(error);
    tellSlowDown();
    pump();
  }

  return {
    pump,

    /**
     * Queues `text` for the current room. Returns a promise of the ack
     * ({ref, id}) that carries the ref as its `ref` property.
     */
    say(text, nick) {
      const entry = { ref: newRef(), text, room: room(), adopted: false, settle: null };
      const promise = new Promise((resolve, reject) => { entry.settle = { resolve, reject }; });
      // A caller that only listens to events must not see unhandled rejections.
      promise.catch(() => {});
      promise.ref = entry.ref;
      pending.set(entry.ref, entry);
      emit('queued', { ref: entry.ref, text, room: entry.room, nick });
      tellSlowDown();
      pump();
      return promise;
    },

    /** Whether `ref` is one of ours still pending. */
    has(ref) {
      return pending.has(ref);
    },

    /** The text of our pending message `ref` (undefined when it is not one). */
    textOf(ref) {
      const entry = pending.get(ref);
      return entry && entry.text;
    },

    /** How many messages wait for their ack. */
    get size() {
      return pending.size;
    },

    /** The server took `ref` as message `id`; a second ack for it is ignored. */
    ack(ref, id) {
      const entry = pending.get(ref);
      if (!entry) return;
      pending.delete(ref);
      if (inFlight === ref) inFlight = null;
      emit('ack', { ref, id, text: entry.text, room: entry.room });
      entry.settle.resolve({ ref, id });
      tellSlowDown();
      pump();
    },

    /**
     * Our own message with `text` arrived in the current room: the ref of
     * the first pending one it answers (each is matched once), or
     * undefined. The server posts a message before it acks it.
     */
    adopt(text) {
      for (const entry of pending.values()) {
        if (!entry.adopted && entry.room === room() && entry.text === text) {
          entry.adopted = true;
          return entry.ref;
        }
      }
      return undefined;
    },

    /**
     * "Not now" for `ref`: it stays pending and goes again after `wait` ms.
     * `rateLimited` (rather than the server being degraded, which has an
     * event of its own) starts the `slowdown` events.
     */
    holdOff(ref, wait, rateLimited) {
      if (inFlight === ref) inFlight = null;
      holdUntil = clock.now() + wait;
      if (rateLimited) slowed = true;
      tellSlowDown();
      pump();
    },

    /** The server refused `ref` with error frame `e`. Unless only for want of a room, it fails. */
    refused(ref, e) {
      const entry = pending.get(ref);
      if (!entry) return;
      if (inFlight === ref) inFlight = null;
      // Not joined yet: it stays pending and goes out after the next welcome.
      if (e.code !== 'not_joined') fail(entry, new ParleyError(e.code, e.message, { frame: e }));
    },

    /** Fails the pending messages of rooms other than `keep`; returns how many. */
    failOutside(keep) {
      let dropped = 0;
      for (const entry of [...pending.values()]) {
        if (entry.room !== keep) {
          fail(entry, new ParleyError('left_room', `left #${entry.room} before it went`));
          dropped += 1;
        }
      }
      return dropped;
    },

    /** Fails the pending messages of `lost`, a room we could not join. */
    failRoom(lost) {
      for (const entry of [...pending.values()]) {
        if (entry.room === lost) fail(entry, new ParleyError('join_failed', `could not join #${lost}`));
      }
    },

    /** Fails everything still pending (the client was closed). */
    failAll(code, message) {
      for (const entry of [...pending.values()]) fail(entry, new ParleyError(code, message));
    },

    /**
     * The link dropped: nothing is in flight any more. The message in
     * flight fails if the link closed because it was too large (resending
     * it would only repeat that); the rest go again after the next welcome.
     */
    linkLost(tooBig) {
      const entry = pending.get(inFlight);
      inFlight = null;
      if (tooBig && entry) fail(entry, new ParleyError('too_large', 'it was too large to send'));
    },

    /** A welcome came: whatever was in flight is resent by the next pump. */
    welcomed() {
      inFlight = null;
    },

    /** The server recovered: no more holding back. */
    release() {
      holdUntil = 0;
      pump();
    },

    /** Pumps again after `wait` ms. */
    pumpLater(wait) {
      clock.setTimeout(pump, wait);
    },
  };
}
