/*
 * The messages this page has written and the server has not acknowledged
 * yet. Each `say` gets a unique ref and shows as a greyed "sending…" item
 * until its ack. They go out one at a time, oldest first: the next leaves
 * once the previous is acknowledged. That costs a round trip per message,
 * but a rate-limited message can never be overtaken by a later one, so
 * everybody sees a person's messages in the order written. After a
 * reconnect they go again with their refs: the server recognises any it
 * already posted and only acks those.
 *
 * A message refused with `rate_limited` is never lost: it stays first in
 * line and goes again, with its ref, after the server's `retry_ms`. While
 * the rate limit holds messages back, one "slow down" line (the view's
 * showSlowDown) says how many wait; it is redrawn in place as they go,
 * and goes away once all have gone out.
 *
 * Owns: the pending messages (ref -> {ref, text, room, item}), the ref
 * counter, the ref in flight, the hold the server asked for (no `say`
 * before holdUntil), and whether the rate limit is holding messages back.
 * Must not touch: the DOM (its items are made and changed by the `view`
 * it is given: addPending, dropItem, markFailed, showSlowDown), or the
 * session's state, which it reads only through `canSend()` and `room()`.
 */

const BROWSER_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => Date.now(),
  randomWords: () => crypto.getRandomValues(new Uint32Array(2)),
};

/**
 * An outbox. `send(frame) -> bool` sends on the link; `canSend()` says
 * whether the server has us in a room with no join outstanding; `room()`
 * is the room we are in or joining; `view` draws the items.
 */
export function createOutbox({ send, canSend, room, view, io = {} }) {
  const clock = { ...BROWSER_IO, ...io };
  /** ref -> {ref, text, room, item}, in the order written. */
  const pending = new Map();
  let refCounter = 0;
  /** The ref of the `say` awaiting its ack (one at a time; see pump). */
  let inFlight = null;
  /** No `say` before this time (the server asked us to slow down). */
  let holdUntil = 0;
  let holdTimer = 0;
  /** The rate limit refused one of these messages: the slow-down line shows until all are out. */
  let slowed = false;

  /** Redraws the slow-down line with what still waits, or takes it away once nothing does. */
  function drawSlowDown() {
    if (!slowed) return;
    if (pending.size === 0) slowed = false;
    view.showSlowDown(pending.size);
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
      if (send({ type: 'say', text: entry.text, ref: entry.ref })) inFlight = entry.ref;
      return;
    }
  }

  function fail(entry, why) {
    pending.delete(entry.ref);
    if (inFlight === entry.ref) inFlight = null;
    if (entry.item) view.markFailed(entry.item, why);
    drawSlowDown();
    pump();
  }

  return {
    pump,

    /** Queues `text` for the current room, shown under `nick` until acknowledged. */
    say(text, nick) {
      const entry = { ref: newRef(), text, room: room(), item: null };
      entry.item = view.addPending(entry.ref, text, nick);
      pending.set(entry.ref, entry);
      drawSlowDown();
      pump();
      return entry.ref;
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

    /** The server took `ref`: its placeholder goes (the message is shown by now). */
    ack(ref) {
      const entry = pending.get(ref);
      if (!entry) return;
      // The server sends a message to the room before acking it, and a
      // resend of something already posted is in the welcome's replay or
      // was seen, so the message itself is on screen by now.
      pending.delete(ref);
      if (entry.item) view.dropItem(entry.item);
      if (inFlight === ref) inFlight = null;
      drawSlowDown();
      pump();
    },

    /** Our own message arrived: the placeholder with its text in this room gives way to it. */
    adopt(text) {
      for (const entry of pending.values()) {
        if (entry.item && entry.room === room() && entry.text === text) {
          view.dropItem(entry.item);
          entry.item = null;
          return;
        }
      }
    },

    /**
     * "Not now" for `ref`: it stays pending and goes again after `wait` ms.
     * `rateLimited` (rather than the server being degraded, which the
     * session reports itself) shows the slow-down line.
     */
    holdOff(ref, wait, rateLimited) {
      if (inFlight === ref) inFlight = null;
      holdUntil = clock.now() + wait;
      if (rateLimited) slowed = true;
      drawSlowDown();
      pump();
    },

    /** The server refused `ref`. Unless only for want of a room, it fails. */
    refused(ref, code, message) {
      const entry = pending.get(ref);
      if (!entry) return;
      if (inFlight === ref) inFlight = null;
      // Not joined yet: it stays pending and goes out after the next welcome.
      if (code !== 'not_joined') fail(entry, message);
    },

    /** Fails the pending messages of rooms other than `keep`; returns how many. */
    failOutside(keep) {
      let dropped = 0;
      for (const entry of [...pending.values()]) {
        if (entry.room !== keep) {
          fail(entry, 'You left the room before it went.');
          dropped += 1;
        }
      }
      return dropped;
    },

    /** Fails the pending messages of `lost`, a room we could not join. */
    failRoom(lost) {
      for (const entry of [...pending.values()]) {
        if (entry.room === lost) fail(entry, `Could not join #${entry.room}.`);
      }
    },

    /** The items still pending, in the order written, to keep when the list is redrawn. */
    items() {
      return [...pending.values()].map((entry) => entry.item).filter(Boolean);
    },

    /**
     * The link dropped: nothing is in flight any more. The message in
     * flight fails if the link closed because it was too large (resending
     * it would only repeat that); the rest go again after the next welcome.
     */
    linkLost(tooBig) {
      const entry = pending.get(inFlight);
      inFlight = null;
      if (tooBig && entry) fail(entry, 'It was too large to send.');
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
