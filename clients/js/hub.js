/*
 * The leader tab's side of a shared connection: the tabs' virtual links
 * ("vconns", one per ParleyClient link in any tab of this browser) carried
 * over real connections to the server, one per room in use. Each tab's
 * client keeps its own session (its own join, cursor, outbox and view);
 * the hub only routes frames so that the server sees one member per room:
 *
 *   - the first join of a room goes to the server as the tab sent it (with
 *     its resume token, `since` and `epoch`: after a handover that is the
 *     resume that takes the member's place back); every later join of that
 *     room is sent as a re-sync under the member's nickname (PROTOCOL.md
 *     3.2, step 6), whose welcome goes to the tab that asked, with the
 *     history after its own `since`, and nobody else hears anything;
 *   - frames about the room (messages, presence, renames, typing) go to
 *     every vconn in it; answers go to the vconn that asked: acks and
 *     errors by `ref`, history pages by a ref the hub makes unique, and
 *     errors without a ref to the join, rename or leave awaiting one;
 *   - a tab leaving a room others of its tabs are in gets `left_room` from
 *     the hub; only the last one's `leave` reaches the server. A room no
 *     vconn uses any more has its connection closed (its member leaves).
 *
 * A real connection that drops closes every vconn on it with the same
 * code; the tabs reconnect (with their own backoff) and rejoin, resuming.
 * The connection object stays and reconnects as it would for one tab, so
 * its fallback to long-polling and its refusal hint work as they do there.
 *
 * Owns: the vconns (key -> {tab, vc, up, next, inRoom, opened}), the
 * upstreams (room -> connection and what is routed on it).
 * Must not touch: any tab's session, the DOM, the channel (it speaks
 * through `tell(tab, message)`) or the network except through the
 * connections `connect(room, events)` makes.
 */

import { CLOSE, isJoinError } from './protocol.js';

/** Error codes that answer a rename. */
const RENAME_ERRORS = new Set(['invalid_nick', 'nick_taken', 'rate_limited', 'not_joined']);

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
  let historyCounter = 0;
  let gone = false;

  const key = (tab, vc) => `${tab}/${vc}`;
  const to = (v, message) => tell(v.tab, { vc: v.vc, ...message });
  const frameTo = (v, frame) => to(v, { t: 'frame', frame });
  const inRoom = (up) => [...up.vconns].filter((v) => v.up === up && v.inRoom);

  function upstream(room) {
    if (upstreams.has(room)) return upstreams.get(room);
    const up = {
      room,
      vconns: new Set(),
      open: false,
      member: null,
      joining: null,
      queue: [],
      leaving: null,
      renaming: null,
      lastFrom: null,
      refs: new Map(),
      histories: new Map(),
      transport: null,
      why: '',
      notices: [],
      link: null,
    };
    upstreams.set(room, up);
    up.link = connect(room, {
      opened: () => opened(up),
      frame: (frame) => fromServer(up, frame),
      closed: (info) => dropped(up, info),
      refused: (hint) => {
        for (const v of [...up.vconns]) closeVconn(v, { code: CLOSE.REFUSED, reason: hint });
      },
      state: () => {},
      transport: (name, why) => {
        up.transport = name;
        up.why = why;
        for (const v of up.vconns) to(v, { t: 'transport', name, why });
      },
      notice: (text) => {
        if (!up.notices.includes(text)) up.notices.push(text);
        for (const v of up.vconns) to(v, { t: 'notice', text });
      },
    });
    up.transport = up.link.transportName();
    up.why = up.link.fallbackReason();
    up.link.connect();
    return up;
  }

  /** Tells vconn `v` it is open (again, when `again`: its tab asked twice). */
  function tellOpened(v, up, again = false) {
    if (v.opened && !again) return;
    v.opened = true;
    to(v, { t: 'opened', transport: up.transport, why: up.why, notices: up.notices });
  }

  function opened(up) {
    up.open = true;
    up.transport = up.link.transportName();
    up.why = up.link.fallbackReason();
    for (const v of up.vconns) if (v.up === up) tellOpened(v, up);
    pump(up);
  }

  /**
   * The real connection dropped: every vconn on it closes with its code.
   * The connection itself stays and reconnects as a direct client's would
   * (its fallback and refusal logic intact); the tabs come back to it.
   */
  function dropped(up, info) {
    up.open = false;
    up.member = null;
    up.joining = null;
    up.queue = [];
    up.leaving = null;
    up.renaming = null;
    up.refs.clear();
    up.histories.clear();
    for (const v of [...up.vconns]) closeVconn(v, info, up);
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
      unbind(v, up);
      if (up !== keep) retire(up);
    }
  }

  function unbind(v, up) {
    up.vconns.delete(v);
    if (up.joining === v) up.joining = null;
    up.queue = up.queue.filter((entry) => entry.v !== v);
  }

  /** Closes the connection of a room no vconn uses; otherwise sends what waits. */
  function retire(up) {
    if (up.vconns.size > 0) {
      pump(up);
      return;
    }
    if (upstreams.get(up.room) === up) upstreams.delete(up.room);
    up.link.leave();
  }

  function bind(v, up) {
    up.vconns.add(v);
    if (up.open) tellOpened(v, up);
    else up.link.reconnectNow();
  }

  /** Sends the next join waiting on `up`, once it is open and no other is answered. */
  function pump(up) {
    if (!up.open || up.joining || up.queue.length === 0) return;
    const { v, frame } = up.queue.shift();
    const join = { ...frame };
    if (up.member) {
      // A re-sync: the server keeps the member, and answers this tab alone.
      join.nick = up.member.nick;
      delete join.resume;
    } else if (join.resume && [...upstreams.values()].some((o) => o !== up && o.member && o.member.token === join.resume)) {
      // That token is another room's member, which other tabs still use:
      // presenting it would move that member here (and cut those tabs off).
      delete join.resume;
    }
    up.joining = v;
    up.lastFrom = v;
    if (!up.link.send(join)) up.joining = null;
  }

  function fromTab(v, frame) {
    const up = v.up;
    switch (frame.type) {
      case 'ping':
        frameTo(v, { type: 'pong' });
        return;
      case 'join': {
        const target = upstream(typeof frame.room === 'string' ? frame.room : up.room);
        if (target !== up) {
          if (v.next && v.next !== target) {
            unbind(v, v.next);
            retire(v.next);
          }
          v.next = target;
          v.inRoom = false;
          bind(v, target);
        }
        target.queue.push({ v, frame });
        pump(target);
        return;
      }
      case 'leave':
        if (inRoom(up).some((other) => other !== v)) {
          v.inRoom = false;
          frameTo(v, { type: 'left_room', room: up.room });
          return;
        }
        up.leaving = v;
        break;
      case 'say':
        up.refs.set(frame.ref, v);
        break;
      case 'nick':
        up.renaming = v;
        break;
      case 'history': {
        historyCounter += 1;
        const ref = `t${historyCounter}`;
        up.histories.set(ref, { v, ref: frame.ref });
        up.lastFrom = v;
        up.link.send({ ...frame, ref });
        return;
      }
      default:
        break;
    }
    up.lastFrom = v;
    up.link.send(frame);
  }

  function welcomed(up, w) {
    up.member = { nick: w.nick, token: w.session };
    const v = up.joining;
    up.joining = null;
    if (!v) {
      for (const each of inRoom(up)) frameTo(each, w);
      return;
    }
    if (v.next === up) {
      const old = v.up;
      v.up = up;
      v.next = null;
      if (old && old !== up) {
        unbind(v, old);
        retire(old);
      }
    }
    v.inRoom = true;
    frameTo(v, w);
  }

  function joinRefused(up, e) {
    const v = up.joining;
    up.joining = null;
    frameTo(v, e);
    if (v.next === up) {
      // The server refused before moving it: it is still where it was.
      v.next = null;
      v.inRoom = Boolean(v.up.member);
      unbind(v, up);
      retire(up);
    }
  }

  function errored(up, e) {
    if (e.ref !== undefined && e.ref !== null) {
      const history = up.histories.get(e.ref);
      if (history) {
        up.histories.delete(e.ref);
        frameTo(history.v, { ...e, ref: history.ref });
        return;
      }
      const sender = up.refs.get(e.ref);
      if (sender) {
        if (e.code !== 'rate_limited' && e.code !== 'degraded') up.refs.delete(e.ref);
        frameTo(sender, e);
        return;
      }
    }
    if (up.joining && (isJoinError(e.code) || e.code === 'rate_limited')) {
      joinRefused(up, e);
    } else if (up.renaming && RENAME_ERRORS.has(e.code)) {
      frameTo(up.renaming, e);
      up.renaming = null;
    } else if (up.leaving && e.code === 'not_joined') {
      frameTo(up.leaving, e);
      up.leaving = null;
    } else if (up.lastFrom && vconns.has(key(up.lastFrom.tab, up.lastFrom.vc))) {
      frameTo(up.lastFrom, e);
    }
    pump(up);
  }

  function fromServer(up, frame) {
    switch (frame.type) {
      case 'pong':
        return;
      case 'welcome':
        welcomed(up, frame);
        pump(up);
        return;
      case 'error':
        errored(up, frame);
        return;
      case 'ack': {
        const sender = up.refs.get(frame.ref);
        up.refs.delete(frame.ref);
        if (sender) frameTo(sender, frame);
        return;
      }
      case 'history': {
        const asked = up.histories.get(frame.ref);
        up.histories.delete(frame.ref);
        if (asked) frameTo(asked.v, { ...frame, ref: asked.ref });
        return;
      }
      case 'left_room': {
        up.member = null;
        const v = up.leaving;
        up.leaving = null;
        for (const each of v ? [v] : inRoom(up)) {
          each.inRoom = false;
          frameTo(each, frame);
        }
        return;
      }
      case 'renamed':
        if (up.member && frame.old === up.member.nick) {
          up.member.nick = frame.new;
          up.renaming = null;
        }
        break;
      default:
        break;
    }
    for (const v of inRoom(up)) frameTo(v, frame);
  }

  return {
    /** A message from a tab: {t: 'open' | 'frame' | 'close', vc, room, frame}. */
    receive(tab, message) {
      if (gone) return;
      const v = vconns.get(key(tab, message.vc));
      if (message.t === 'open') {
        if (v) {
          if (v.opened) tellOpened(v, v.up, true);
          return;
        }
        const fresh = { tab, vc: message.vc, up: null, next: null, inRoom: false, opened: false };
        const up = upstream(typeof message.room === 'string' ? message.room : 'lobby');
        fresh.up = up;
        vconns.set(key(tab, message.vc), fresh);
        bind(fresh, up);
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
      for (const up of upstreams.values()) {
        const others = [...up.vconns].some((v) => v.tab !== own);
        if (others && up.member) up.link.handOver();
        else up.link.leave();
      }
      upstreams.clear();
      vconns.clear();
    },
  };
}
