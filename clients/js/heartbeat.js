/*
 * The heartbeat of an open link: a link quiet for PING_AFTER_MS is probed
 * with a ping, and one that still says nothing PONG_TIMEOUT_MS later is
 * declared dead (the connection then drops it and reconnects). Anything
 * heard counts as an answer, not only a pong.
 *
 * Owns: its interval timer, when the link was last heard and when the
 * probing ping went.
 * Must not touch: the transport, the connection's state or the network:
 * it pings through `ping()` and reports through `dead()`.
 */

/** A link quiet this long is probed with a ping... */
export const PING_AFTER_MS = 25000;
/** ...and dropped (then reconnected) if nothing answers within this. */
export const PONG_TIMEOUT_MS = 10000;
/** How often the heartbeat looks; a ping or a drop may come this much late. */
export const HEARTBEAT_CHECK_MS = 5000;

/** A heartbeat. `clock` is {setInterval, clearInterval, now}. */
export function createHeartbeat({ clock, ping, dead }) {
  let timer = 0;
  let lastHeard = 0;
  let pingSentAt = 0;

  function stop() {
    clock.clearInterval(timer);
    timer = 0;
  }

  return {
    /** The link opened: it counts as heard now. */
    start() {
      lastHeard = clock.now();
      pingSentAt = 0;
      stop();
      // Compares timestamps rather than counting ticks, so throttled timers in
      // a background tab cannot make a live link look dead.
      timer = clock.setInterval(() => {
        const now = clock.now();
        const probing = pingSentAt !== 0 && lastHeard < pingSentAt;
        if (probing) {
          if (now - pingSentAt > PONG_TIMEOUT_MS) dead();
        } else if (now - lastHeard > PING_AFTER_MS) {
          pingSentAt = now;
          ping();
        }
      }, HEARTBEAT_CHECK_MS);
    },

    stop,

    /** A frame came. */
    heard() {
      lastHeard = clock.now();
    },
  };
}
