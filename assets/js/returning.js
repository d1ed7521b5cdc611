/*
 * Who is coming back rather than arriving. When the link drops, everyone
 * else in the room is still there as far as the reader knows; after the
 * rejoin (a server restart especially, which forgets every member) the
 * server announces each of them "joined" as they reconnect. They are not
 * new arrivals, so chat.js puts them back in the roster without a line.
 * Someone who comes back long after the rejoin (RETURN_GRACE_MS) did leave
 * and is announced as usual.
 *
 * Owns: the nicknames last seen before the link dropped, and until when
 * they count as returning.
 * Must not touch: the DOM, the roster or the network: it is told the
 * names and the time, and answers.
 */

/**
 * Others reconnect within the client's backoff (at most 15 s, plus the
 * server's start); a minute leaves room for a tab the browser throttles.
 */
export const RETURN_GRACE_MS = 60_000;

export class Returning {
  /** Nicknames present when the link dropped, still to come back. */
  #away = new Set();
  /** When the link dropped and was not yet welcomed again. */
  #down = false;
  /** Until when (the clock's ms) an arrival of #away is a return. */
  #until = 0;

  /**
   * The link dropped while in a room with `present` (nicknames, the
   * reader's own excluded). A second drop before the rejoin keeps the
   * first list: that was the room as last seen.
   */
  linkLost(present) {
    if (this.#down) return;
    this.#down = true;
    this.#away = new Set(present);
  }

  /**
   * A welcome: into the same room (`rejoin`), listing `present` already
   * back, at `now`; or into another room, which forgets everyone.
   */
  welcomed({ rejoin, present, now }) {
    this.#down = false;
    if (!rejoin) {
      this.#away.clear();
      return;
    }
    for (const nick of present) this.#away.delete(nick);
    this.#until = now + RETURN_GRACE_MS;
  }

  /**
   * `nick` is announced joining at `now`: true when they are coming back
   * (once each), so no line is due.
   */
  isReturn(nick, now) {
    if (this.#down || now >= this.#until || !this.#away.has(nick)) return false;
    this.#away.delete(nick);
    return true;
  }
}
