/*
 * Which tab an answer of the server goes to, on one room's connection
 * shared by several tabs (upstream.js): an `ack` or an error naming a
 * `say` ref goes to the vconn that said it (the tabs' refs are unique:
 * they carry the client's random prefix); a `history` or `roster` page,
 * or an error about one, goes to the vconn that asked, under its own ref,
 * for which the request went with a ref made unique here (two tabs may
 * both have asked "h1").
 *
 * Owns: the say refs in flight (ref -> vconn) and the requests in flight
 * (our ref -> {v, ref: the tab's own}), and the counter of our refs.
 * Must not touch: the connection or the vconns beyond handing them back.
 */

/** Errors after which a say is still awaiting its answer (it is sent again). */
const SAY_KEPT = new Set(['rate_limited', 'degraded']);

export function createAnswerRoutes() {
  /** say ref -> vconn. */
  const says = new Map();
  /** Our ref of a history or roster request -> {v, ref: the tab's own}. */
  const asks = new Map();
  let counter = 0;

  return {
    /** Vconn `v` said something with `ref`. */
    said(v, ref) {
      says.set(ref, v);
    },

    /** Vconn `v` asks `frame` (history or roster): the frame to send, under our ref. */
    asked(v, frame) {
      counter += 1;
      const ref = `t${counter}`;
      asks.set(ref, { v, ref: frame.ref });
      return { ...frame, ref };
    },

    /** An `ack`: {v, frame} for the vconn that said it, or null. */
    acked(frame) {
      const v = says.get(frame.ref);
      says.delete(frame.ref);
      return v ? { v, frame } : null;
    },

    /** A `history` or `roster` page: {v, frame under its ref}, or null. */
    answered(frame) {
      const asked = asks.get(frame.ref);
      asks.delete(frame.ref);
      return asked ? { v: asked.v, frame: { ...frame, ref: asked.ref } } : null;
    },

    /** An error with a ref: {v, frame} for whoever it answers, or null. */
    erred(e) {
      if (e.ref === undefined || e.ref === null) return null;
      const asked = asks.get(e.ref);
      if (asked) {
        asks.delete(e.ref);
        return { v: asked.v, frame: { ...e, ref: asked.ref } };
      }
      const sender = says.get(e.ref);
      if (!sender) return null;
      if (!SAY_KEPT.has(e.code)) says.delete(e.ref);
      return { v: sender, frame: e };
    },

    /** The connection dropped: nothing in flight will be answered. */
    clear() {
      says.clear();
      asks.clear();
    },
  };
}
