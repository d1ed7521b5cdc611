/*
 * The leader tab's hub: the tabs' virtual links ("vconns", one per
 * ParleyClient link in any tab of this browser) carried over real
 * connections to the server, one per room in use (upstream.js, which
 * routes the frames on each). Each tab's client keeps its own session (its
 * own join, cursor, outbox and view); the hub only keeps track of which
 * vconn uses which room's connection, so that the server sees one member
 * per room:
 *
 *   - a vconn opens on the connection of the room its client is in, and
 *     a join of another room moves it (`next`) to that room's connection
 *     once the server welcomes it there, or keeps it where it was when the
 *     server refuses;
 *   - a room no vconn uses any more has its connection closed (its member
 *     leaves); a tab that goes away takes its vconns with it;
 *   - a frame for a vconn of an earlier leader's hub is answered with a
 *     handover close, so that its client reconnects here.
 *
 * A real connection that drops closes every vconn on it with the same
 * code; the tabs reconnect (with their own backoff) and rejoin, resuming.
 *
 * Owns: the vconns (key -> {tab, vc, up, next, inRoom, opened}; it sets
 * `up` and `next`), the upstreams (room -> upstream), and whether this
 * hub has handed over.
 * Must not touch: what an upstream routes, any tab's session, the DOM, the
 * channel (it speaks through `tell(tab, message)`) or the network except
 * through the connections `connect(room, events)` makes.
 */

import { CLOSE } from './protocol.js';
import { createUpstream } from './upstream.js';

/**
 * A hub. Arguments:
 *   connect(room, events)  a new connection (connection.js) for `room`
 *   tell(tab, message)     sends `message` ({vc, t, ...}) to tab `tab`
 */
export function createHub({ connect, tell }) {
  /** `${tab}/${vc}` -> vconn. */
  const vconns = new Map();
  /** room -> upstream. */
  const upstreams = new Map();
  let gone = false;

  const key = (tab, vc) => `${tab}/${vc}`;
  const to = (v, message) => tell(v.tab, { vc: v.vc, ...message });

  /** What the upstreams ask of the hub. */
  const hub = {
    /** Vconn `v` was welcomed on `up`, the connection it was moving to. */
    moved(v, up) {
      const old = v.up;
      v.up = up;
      v.next = null;
      if (old && old !== up) {
        old.detach(v);
        retire(old);
      }
    },
    /** The server refused vconn `v` the room of `up`: it stays where it was. */
    stayed(v, up) {
      v.next = null;
      v.inRoom = Boolean(v.up.member);
      up.detach(v);
      retire(up);
    },
    close: closeVconn,
    /** Whether a connection other than `by` holds the member of `token`. */
    claimed: (token, by) => [...upstreams.values()].some((o) => o !== by && o.member && o.member.token === token),
    /** Whether vconn `v` is still open. */
    knows: (v) => vconns.has(key(v.tab, v.vc)),
  };

  function upstream(room) {
    if (upstreams.has(room)) return upstreams.get(room);
    const up = createUpstream({ room, connect, to, hub });
    upstreams.set(room, up);
    up.start();
    return up;
  }

  /** Closes vconn `v` with `code`; `keep` is a connection not to retire. */
  function closeVconn(v, { code, reason }, keep = null) {
    forget(v, keep);
    to(v, { t: 'closed', code, reason: reason || '' });
  }

  /** Drops vconn `v`; a room no vconn uses any more (but `keep`) is left. */
  function forget(v, keep = null) {
    vconns.delete(key(v.tab, v.vc));
    for (const up of [v.up, v.next]) {
      if (!up) continue;
      up.detach(v);
      if (up !== keep) retire(up);
    }
  }

  /** Closes the connection of a room no vconn uses; otherwise sends what waits. */
  function retire(up) {
    if (up.used) {
      up.pump();
      return;
    }
    if (upstreams.get(up.room) === up) upstreams.delete(up.room);
    up.leave();
  }

  function fromTab(v, frame) {
    if (frame.type === 'ping') {
      to(v, { t: 'frame', frame: { type: 'pong' } });
      return;
    }
    if (frame.type !== 'join') {
      v.up.send(v, frame);
      return;
    }
    const target = upstream(typeof frame.room === 'string' ? frame.room : v.up.room);
    if (target !== v.up) {
      if (v.next && v.next !== target) {
        v.next.detach(v);
        retire(v.next);
      }
      v.next = target;
      v.inRoom = false;
      target.attach(v);
    }
    target.join(v, frame);
  }

  return {
    /** A message from a tab: {t: 'open' | 'frame' | 'close', vc, room, frame}. */
    receive(tab, message) {
      if (gone) return;
      const v = vconns.get(key(tab, message.vc));
      if (message.t === 'open') {
        if (v) {
          if (v.opened) v.up.greet(v, true);
          return;
        }
        const fresh = { tab, vc: message.vc, up: null, next: null, inRoom: false, opened: false };
        const up = upstream(typeof message.room === 'string' ? message.room : 'lobby');
        fresh.up = up;
        vconns.set(key(tab, message.vc), fresh);
        up.attach(fresh);
        return;
      }
      if (!v) {
        // A vconn of an earlier leader's hub: it reconnects here.
        if (message.t === 'frame') tell(tab, { vc: message.vc, t: 'closed', code: CLOSE.HANDOVER, reason: 'handover' });
        return;
      }
      if (message.t === 'close') forget(v);
      else if (message.t === 'frame' && message.frame && typeof message.frame.type === 'string') fromTab(v, message.frame);
    },

    /** Tab `tab` went away: its vconns close, and rooms only it used are left. */
    dropTab(tab) {
      for (const v of [...vconns.values()]) if (v.tab === tab) forget(v);
    },

    /**
     * This tab (`own`) is going away. A room another tab still uses has
     * its connection handed over (closed without leaving, for the next
     * leader to resume); a room only this tab used is left at once.
     */
    handOver(own) {
      gone = true;
      for (const up of upstreams.values()) up.handOver(own);
      upstreams.clear();
      vconns.clear();
    },
  };
}
