/*
 * Who is in the room, and whether each of them is typing, with the count
 * the server last announced. A complete roster (the welcome listed
 * everyone) keeps the order the server gave, arrivals last; a partial one
 * (a room listed in pages, PROTOCOL.md 3.9) is the pages asked for plus
 * the names the live frames brought, in the server's name order, so that
 * pages and arrivals interleave as they will on the server, and `count`,
 * not the list, says how many there are.
 *
 * Owns: the list of people, whether it is complete, and the count, kept
 * private; callers change them only through the methods below, which
 * follow the frames that carry them (welcome, roster pages, joined, left,
 * presence, renamed, typing).
 * Must not touch: the DOM or the network. Drawing the roster is view.js's
 * business; it is handed a copy (people()).
 */

/**
 * The server's name order (PROTOCOL.md 3.9): character by character in
 * lower case, then as written. Negative when `a` comes first.
 */
export function nameOrder(a, b) {
  const fold = (name) => [...name].map((ch) => ch.toLowerCase());
  const byChars = (x, y) => {
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i += 1) {
      if (x[i] !== y[i]) return x[i].codePointAt(0) - y[i].codePointAt(0);
    }
    return x.length - y.length;
  };
  return byChars(fold(a), fold(b)) || byChars([...a], [...b]);
}

export class Roster {
  /** nick -> {typing}, in join order (or the order names came, when partial). */
  #people = new Map();
  #count = 0;
  #complete = true;

  /**
   * From a welcome's roster: [{nick, typing}]; `complete` false when it
   * lists only a page (or nothing) of the `count` members.
   */
  reset(entries, count, complete = true) {
    this.#people = new Map(entries.map((entry) => [entry.nick, { typing: !!entry.typing }]));
    this.#count = count;
    this.#complete = complete;
  }

  /** A partial roster asked for again from its start: it replaces what was listed. */
  replacePage(entries, count) {
    this.reset(entries, count, false);
  }

  /** A page of a partial roster ([{nick, typing}]), with the room's size now. */
  addPage(entries, count) {
    for (const entry of entries) this.#people.set(entry.nick, { typing: !!entry.typing });
    if (Number.isSafeInteger(count)) this.#count = count;
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

  /** Whether the list is everyone (else `count` is the truth). */
  get complete() {
    return this.#complete;
  }

  /** A copy of the list: [{nick, typing}], in join order when complete, else in name order. */
  people() {
    const list = [...this.#people].map(([nick, info]) => ({ nick, typing: info.typing }));
    if (!this.#complete) list.sort((a, b) => nameOrder(a.nick, b.nick));
    return list;
  }

  /** The nicknames typing, other than `self`, in join order. */
  typists(self) {
    return [...this.#people].filter(([nick, info]) => info.typing && nick !== self).map(([nick]) => nick);
  }
}
