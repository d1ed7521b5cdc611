/*
 * Whether the leader tab still answers. A tab that asks the leader's hub
 * for something (to open a link, to carry a message) also asks for a sign
 * of life, and waits for it at most LEADER_ANSWER_MS: a leader whose page
 * is frozen or hung keeps its Web Lock, so the lock alone would let every
 * other tab wait on it forever. No answer in time means the tab should
 * take the lead itself (tab-link.js steals the lock).
 *
 * Owns: the timer of the one question in flight.
 * Must not touch: the channel or the locks: it asks through `probe()` and
 * reports through `silent()`.
 */

/**
 * How long a leader may take to answer. Its hub answers at once from its
 * page's event loop, so only a page that is frozen or stuck takes this
 * long; it is far above a busy page's delay and short enough that a
 * person waiting on "sending…" sees it move.
 */
export const LEADER_ANSWER_MS = 3000;

/** A watch. `clock` is {setTimeout, clearTimeout}. */
export function createLeaderWatch({ clock, probe, silent }) {
  let timer = 0;

  function stop() {
    if (!timer) return;
    clock.clearTimeout(timer);
    timer = 0;
  }

  return {
    /** Asks for a sign of life, unless a question is in flight already. */
    check() {
      if (timer) return;
      timer = clock.setTimeout(() => {
        timer = 0;
        silent();
      }, LEADER_ANSWER_MS);
      probe();
    },
    /** The leader said something: it is alive. */
    heard: stop,
    /** Nothing to wait for (this tab leads, or is going away). */
    stop,
    /** Whether a question is in flight. */
    get waiting() { return timer !== 0; },
  };
}
