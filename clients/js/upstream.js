/*
 * One room's real connection in the leader tab's hub (hub.js), and the
 * routing of the frames that travel on it, so that the server sees one
 * member for every tab in the room:
 *
 *   - joins go one at a time (join-turns.js); a re-sync's welcome goes
 *     to the tab that asked, with the history after its own `since`, and
 *     nobody else hears anything;
 *   - frames about the room (messages, presence, renames, typing) go to
 *     every vconn in it; answers go to the vconn that asked: acks,
 *     pages and errors with a ref through answer-routes.js, and errors
 *     without a ref to the join, rename or leave awaiting one (a join
 *     refused for its `minor` by an older server included: the tab sends
 *     it again without);
 *   - a tab leaving while others of its tabs stay gets `left_room` from
 *     here; only the last one's `leave` reaches the server.
 *
 * The connection stays when it drops and reconnects as it would for one
 * tab, so its fallback to long-polling and its refusal hint work as there.
 *
 * Owns: the connection, whether it is open, the member it holds ({nick,
 * token}), the vconns bound to it, the joins' turns, the leave and
 * rename awaiting an answer, the routes of the
 * answers in flight, and the transport, fallback reason and notices to
 * tell a vconn that opens. Of a vconn record (the hub's) it sets only
 * `inRoom` and `opened`.
 * Must not touch: the hub's tables, a vconn's `up` and `next` (it asks
 * the hub through `hub.moved`, `hub.stayed` and `hub.close`), any tab's
 * session, or the channel (it speaks through `to(v, message)`).
 */

import { CLOSE, isJoinError, refusesMinor } from './protocol.js';
import { createAnswerRoutes } from './answer-routes.js';
import { createJoinTurns } from './join-turns.js';

/** Error codes that answer a rename. */
const RENAME_ERRORS = new Set(['invalid_nick', 'nick_taken', 'rate_limited', 'not_joined']);

/**
 * The upstream of `room`. Arguments:
 *   connect(room, events)  a new connection (connection.js)
 *   to(v, message)         sends `message` ({t, ...}) to vconn `v`
 *   hub                    {moved(v, up), stayed(v, up), close(v, {code,
 *                          reason}, keep), claimed(token, by), knows(v)}
 * Nothing is connected until start().
 */
export function createUpstream({ room, connect, to, hub }) {
  /** The vconns using this connection: in the room, or joining it. */
  const vconns = new Set();
  let open = false;
  /** The server's member on this connection, {nick, token}, or null. */
  let member = null;
  /** The joins, one answered at a time. */
  const turns = createJoinTurns();
  let leaving = null;
  let renaming = null;
  /** The vconn that sent last: an error nobody else awaits is its. */
  let lastFrom = null;
  /** Acks, and history and roster pages, to the vconn that asked. */
  const routes = createAnswerRoutes();
  let transport = null;
  let why = '';
  const notices = [];
  let link = null;

  const frameTo = (v, frame) => to(v, { t: 'frame', frame });
  const inRoom = () => [...vconns].filter((v) => v.up === up && v.inRoom);

  /** Tells vconn `v` it is open (again, when `again`: its tab asked twice). */
  function greet(v, again = false) {
    if (v.opened && !again) return;
    v.opened = true;
    to(v, { t: 'opened', transport, why, notices });
  }

  function opened() {
    open = true;
    transport = link.transportName();
    why = link.fallbackReason();
    for (const v of vconns) if (v.up === up) greet(v);
    pump();
  }

  /**
   * The real connection dropped: every vconn on it closes with its code.
   * The connection itself stays and reconnects as a direct client's would
   * (its fallback and refusal logic intact); the tabs come back to it.
   */
  function dropped(info) {
    open = false;
    member = null;
    turns.clear();
    leaving = null;
    renaming = null;
    routes.clear();
    for (const v of [...vconns]) hub.close(v, info, up);
  }

  /** Sends the next join waiting, once open and no other is answered. */
  function pump() {
    if (!open) return;
    const next = turns.next({ member, claimed: (token) => hub.claimed(token, up) });
    if (!next) return;
    lastFrom = next.v;
    if (!link.send(next.join)) turns.done();
  }

  function welcomed(w) {
    member = { nick: w.nick, token: w.session };
    const v = turns.done();
    if (!v) {
      for (const each of inRoom()) frameTo(each, w);
      return;
    }
    if (v.next === up) hub.moved(v, up);
    v.inRoom = true;
    frameTo(v, w);
  }

  function joinRefused(e) {
    const v = turns.done();
    frameTo(v, e);
    // The server refused before moving it: it is still where it was.
    if (v.next === up) hub.stayed(v, up);
  }

  function errored(e) {
    const routed = routes.erred(e);
    if (routed) {
      frameTo(routed.v, routed.frame);
      return;
    }
    if (turns.joining && (isJoinError(e.code) || e.code === 'rate_limited' || refusesMinor(e))) {
      joinRefused(e);
    } else if (renaming && RENAME_ERRORS.has(e.code)) {
      frameTo(renaming, e);
      renaming = null;
    } else if (leaving && e.code === 'not_joined') {
      frameTo(leaving, e);
      leaving = null;
    } else if (lastFrom && hub.knows(lastFrom)) {
      frameTo(lastFrom, e);
    }
    pump();
  }

  function fromServer(frame) {
    switch (frame.type) {
      case 'pong':
        return;
      case 'welcome':
        welcomed(frame);
        pump();
        return;
      case 'error':
        errored(frame);
        return;
      case 'ack': {
        const routed = routes.acked(frame);
        if (routed) frameTo(routed.v, routed.frame);
        return;
      }
      case 'history':
      case 'roster': {
        const routed = routes.answered(frame);
        if (routed) frameTo(routed.v, routed.frame);
        return;
      }
      case 'left_room': {
        member = null;
        const v = leaving;
        leaving = null;
        for (const each of v ? [v] : inRoom()) {
          each.inRoom = false;
          frameTo(each, frame);
        }
        return;
      }
      case 'renamed':
        if (member && frame.old === member.nick) {
          member.nick = frame.new;
          renaming = null;
        }
        break;
      default:
        break;
    }
    for (const v of inRoom()) frameTo(v, frame);
  }

  const up = {
    room,

    /** The member this connection holds ({nick, token}), or null. */
    get member() { return member; },

    /** Whether any vconn still uses this connection. */
    get used() { return vconns.size > 0; },

    /** Makes the connection and connects it. */
    start() {
      link = connect(room, {
        opened,
        frame: fromServer,
        closed: dropped,
        refused: (hint) => {
          for (const v of [...vconns]) hub.close(v, { code: CLOSE.REFUSED, reason: hint });
        },
        state: () => {},
        transport: (name, reason) => {
          transport = name;
          why = reason;
          for (const v of vconns) to(v, { t: 'transport', name, why: reason });
        },
        notice: (text) => {
          if (!notices.includes(text)) notices.push(text);
          for (const v of vconns) to(v, { t: 'notice', text });
        },
      });
      transport = link.transportName();
      why = link.fallbackReason();
      link.connect();
    },

    greet,
    pump,

    /** Vconn `v` uses this connection now: it opens, or the link reconnects. */
    attach(v) {
      vconns.add(v);
      if (open) greet(v);
      else link.reconnectNow();
    },

    /** Vconn `v` no longer uses this connection; its join is forgotten. */
    detach(v) {
      vconns.delete(v);
      turns.drop(v);
    },

    /** Queues join `frame` of vconn `v` and sends it when its turn comes. */
    join(v, frame) {
      turns.add(v, frame);
      pump();
    },

    /** A frame of vconn `v` (not a join or a ping) for the server. */
    send(v, frame) {
      switch (frame.type) {
        case 'leave':
          if (inRoom().some((other) => other !== v)) {
            v.inRoom = false;
            frameTo(v, { type: 'left_room', room });
            return;
          }
          leaving = v;
          break;
        case 'say':
          routes.said(v, frame.ref);
          break;
        case 'nick':
          renaming = v;
          break;
        case 'history':
        case 'roster':
          lastFrom = v;
          link.send(routes.asked(v, frame));
          return;
        default:
          break;
      }
      lastFrom = v;
      link.send(frame);
    },

    /** Closes the connection: the member leaves. */
    leave() {
      link.leave();
    },

    /**
     * Tab `own` (the leader) goes away: a connection another tab uses is
     * handed over (closed without its member leaving); otherwise left.
     */
    handOver(own) {
      const others = [...vconns].some((v) => v.tab !== own);
      if (others && member) link.handOver();
      else link.leave();
    },
  };
  return up;
}
