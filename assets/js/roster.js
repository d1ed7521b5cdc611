/*
 * Who is in the room, in join order, and whether each of them is typing,
 * with the count the server last announced.
 *
 * Owns: the list of people and the count, kept private; callers change
 * them only through the methods below, which follow the frames that
 * carry them (welcome, joined, left, presence, renamed, typing).
 * Must not touch: the DOM or the network. Drawing the roster is view.js's
 * business; it is handed a copy (people()).
 */

export class Roster {
  /** nick -> {typing}, in join order. */
  #people = new Map();
  #count = 0;

  /** Everyone at once, from a welcome's roster: [{nick, typing}]. */
  reset(entries, count) {
    this.#people = new Map(entries.map((entry) => [entry.nick, { typing: !!entry.typing }]));
    this.#count = count;
  }

  /** Someone joined. */
  add(nick, count) {
    this.#people.set(nick, { typing: false });
    this.#count = count;
  }

  /** Someone left. */
  remove(nick, count) {
    this.#people.delete(nick);
    this.#count = count;
  }

  /**
   * Several arrivals and departures at once, applied in order as set
   * changes (a batch may name someone already listed, or `self`, who
   * stays). Returns how many came and went.
   */
  applyPresence(changes, count, self) {
    let came = 0;
    let went = 0;
    for (const change of changes) {
      if (change.present) {
        if (!this.#people.has(change.nick)) this.#people.set(change.nick, { typing: false });
        came += 1;
      } else if (change.nick !== self) {
        this.#people.delete(change.nick);
        went += 1;
      }
    }
    this.#count = count;
    return { came, went };
  }

  /** Someone changed nickname; they keep their place. */
  rename(from, to) {
    this.#people = new Map([...this.#people].map(([nick, info]) => [nick === from ? to : nick, info]));
  }

  /** Someone started or stopped typing; false when they are not listed. */
  setTyping(nick, on) {
    const info = this.#people.get(nick);
    if (!info) return false;
    info.typing = !!on;
    return true;
  }

  /** A message ends its sender's typing; true when they were typing. */
  endTyping(nick) {
    const info = this.#people.get(nick);
    if (!info || !info.typing) return false;
    info.typing = false;
    return true;
  }

  /** Nobody is typing (the link dropped: nobody can tell us who is). */
  stopAllTyping() {
    for (const info of this.#people.values()) info.typing = false;
  }

  get count() {
    return this.#count;
  }

  /** A copy of the list: [{nick, typing}] in join order. */
  people() {
    return [...this.#people].map(([nick, info]) => ({ nick, typing: info.typing }));
  }

  /** The nicknames typing, other than `self`, in join order. */
  typists(self) {
    return [...this.#people].filter(([nick, info]) => info.typing && nick !== self).map(([nick]) => nick);
  }
}
