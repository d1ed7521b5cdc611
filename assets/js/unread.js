/*
 * Where the reader stopped reading: the rule behind the "new messages"
 * divider and the jump button. A message that arrives while the reader
 * cannot see it (the list is scrolled up, or the tab is hidden) is unseen;
 * the first unseen one of a run gets the divider above it, and the button
 * counts them. Reaching the end of the list with the tab visible catches
 * the reader up: the button goes, the divider stays where it is until the
 * next unseen run moves it, and a message of the reader's own removes it
 * (they are plainly reading).
 *
 * Owns: the count of unseen messages and whether the divider is placed for
 * the current run, in one UnreadMarker per page.
 * Must not touch: the DOM; view.js asks it and draws the answer.
 */

export class UnreadMarker {
  /** Unseen messages since the reader was last caught up. */
  #unseen = 0;
  /** The divider marks the start of the current unseen run. */
  #placed = false;

  /**
   * Someone else's message arrived; `seen` when the reader can see it
   * arrive (the list follows its end and the tab is visible). Returns
   * {divider: whether the divider goes above this message, unseen}.
   */
  arrived(seen) {
    if (seen) return { divider: false, unseen: this.#unseen };
    this.#unseen += 1;
    const divider = !this.#placed;
    this.#placed = true;
    return { divider, unseen: this.#unseen };
  }

  /**
   * The reader has the end of the list in view with the tab visible.
   * Returns whether there was anything unseen (the button goes).
   */
  caughtUp() {
    const had = this.#unseen > 0;
    this.#unseen = 0;
    this.#placed = false;
    return had;
  }

  /** The reader sent a message: nothing is unseen, and the divider goes. */
  ownMessage() {
    this.#unseen = 0;
    this.#placed = false;
  }

  /** Another room (or the list emptied): start afresh. */
  reset() {
    this.ownMessage();
  }

  /** How many messages came unseen since the reader was last caught up. */
  get unseen() {
    return this.#unseen;
  }
}

/** The jump button's text: "1 new message" or "12 new messages". */
export function jumpText(unseen) {
  return unseen === 1 ? '1 new message' : `${unseen.toLocaleString('en-US')} new messages`;
}
