/*
 * The joins of the tabs sharing one room's connection (upstream.js), one
 * at a time, so that each welcome is known to answer one tab: the first
 * as the tab sent it (with its resume token, `since` and `epoch`: after a
 * handover that is the resume that takes the member's place back), every
 * later one, once the connection holds the member, as a re-sync under the
 * member's nickname and without a token (PROTOCOL.md 3.2, step 6). A
 * token that is another room's member, which other tabs still use, is
 * not presented: it would move that member here and cut those tabs off.
 *
 * Owns: the vconn whose join the server is answering, and the joins
 * queued ([{v, frame}]).
 * Must not touch: the connection (upstream.js sends what next() gives).
 */

export function createJoinTurns() {
  /** The vconn whose join the server is answering. */
  let joining = null;
  /** Joins waiting their turn: [{v, frame}]. */
  let queue = [];

  return {
    /** The vconn whose join the server is answering, or null. */
    get joining() { return joining; },

    /** Join `frame` of vconn `v` waits its turn. */
    add(v, frame) {
      queue.push({ v, frame });
    },

    /**
     * The next join to send ({v, join}), now being answered, or null while
     * one is. `member` is the connection's ({nick, token}) or null;
     * `claimed(token)` whether another connection holds that token.
     */
    next({ member, claimed }) {
      if (joining || queue.length === 0) return null;
      const { v, frame } = queue.shift();
      const join = { ...frame };
      if (member) {
        join.nick = member.nick;
        delete join.resume;
      } else if (join.resume && claimed(join.resume)) {
        delete join.resume;
      }
      joining = v;
      return { v, join };
    },

    /** The join being answered was answered (or could not go): whose it was. */
    done() {
      const v = joining;
      joining = null;
      return v;
    },

    /** Vconn `v` went: its joins are forgotten. */
    drop(v) {
      if (joining === v) joining = null;
      queue = queue.filter((entry) => entry.v !== v);
    },

    /** The connection dropped: no join is answered or waits. */
    clear() {
      joining = null;
      queue = [];
    },
  };
}
