/*
 * parley-client: the JavaScript client of a Parley chat server, as one ES
 * module with no dependencies and no build step. It runs wherever there is
 * `fetch` and `WebSocket` (browsers, Node 22+), needs no DOM, and is what
 * Parley's own page talks to the server through.
 *
 *   import { connect } from 'https://chat.example/assets/latest/client/parley-client.js';
 *   const chat = connect('https://chat.example/');
 *   chat.on('message', (m) => console.log(m.nick, m.text));
 *   await chat.join({ nick: 'ann', room: 'lobby' });
 *   await chat.say('hello');
 *
 * What it does for its user: picks the transport (WebSocket first,
 * long-polling when WebSocket cannot get through, remembered in the
 * injectable `storage`; `transport` forces one), reconnects with backoff
 * and resumes (rejoining with the resume token and the cursor, so nothing
 * is missed or told twice), sends messages one at a time with refs and
 * resends them with the same ref after a reconnect (posted once), keeps
 * what is said while offline and sends it, in order, once back, and turns
 * frames into events. docs/CLIENT.md is its manual; parley-client.d.ts its
 * types.
 *
 * In a browser the tabs of one server share their connections (option
 * `share`, on by default where there are Web Locks and BroadcastChannel):
 * the connection of each client is then a SharedTransport to the hub of
 * the leader tab (tab-link.js, hub.js), which holds one real connection
 * per room; every client still keeps its own session and events.
 *
 * Owns: the public face of one client (its methods, getters and
 * exports) over the wiring of one link (client-link.js: a connection of
 * its own or a shared one), one session (session.js) and the plumbing of
 * their events to its users (client-events.js).
 * Must not touch: the DOM, or any state of the modules it wires (each owns
 * its own). A transport is any object with connect/send/close and the
 * onopen/onframe/onclose callbacks, made by the `transports` factories.
 */

import { CLOSE, PROTOCOL_VERSION } from './protocol.js';
import { offeredTransports } from './transport-choice.js';
import { createSession } from './session.js';
import { Emitter } from './emitter.js';
import { endpoints } from './endpoints.js';
import { ParleyError } from './outbox.js';
import { PollingTransport } from './transport/polling.js';
import { WebSocketTransport } from './transport/websocket.js';
import { createClientEvents } from './client-events.js';
import { createClientLink } from './client-link.js';

export {
  CLOSE, PROTOCOL_VERSION, ParleyError, PollingTransport, WebSocketTransport, endpoints, offeredTransports,
};

/** The transports this client implements, in its order of preference. */
export const TRANSPORTS = Object.freeze(['websocket', 'polling']);

/**
 * Codes a ParleyError (a rejected promise, a `failed` event) may carry
 * besides the server's own (PROTOCOL.md 5.1): what happened on this side.
 */
export const CLIENT_ERRORS = Object.freeze({
  /** The message was for a room the client left before it went. */
  left_room: 'left_room',
  /** The message was for a room the client could not join. */
  join_failed: 'join_failed',
  /** The link closed because the message was too large to carry (1009). */
  too_large: 'too_large',
  /** The link dropped before the answer came (history, rename). */
  link_lost: 'link_lost',
  /** Not in a room (asked for history, the roster or a rename before a welcome). */
  not_joined: 'not_joined',
  /** The server is too old for what was asked (the roster in pages needs minor 2). */
  unsupported: 'unsupported',
  /** close() was called before it was settled. */
  closed: 'closed',
});

/**
 * A client of the Parley server at `options.url`. Options:
 *   url         the server's address ("https://host/chat/"); a relative one
 *               is taken relative to the page
 *   transport   'auto' (the default), 'websocket' or 'polling': the last
 *               two force it, with no fallback
 *   offered     the transport names the server offers, preferred first
 *               (default: both); Parley's page reads them from its body
 *   room        the room join() uses when it is not given one ('lobby')
 *   storage     {getItem, setItem} to remember the fallback in (default:
 *               sessionStorage when there is one); null keeps nothing
 *   storageKey  the key it is kept under (default: 'parley.transport:' and
 *               the server's URL)
 *   transports  {name: () => transport}: how each transport is made; the
 *               defaults are WebSocketTransport and PollingTransport
 *   fetch, WebSocket   the platform's, by default
 *   probe       () => Promise<{answers, refused}>: whether the server
 *               answers plain HTTP (default: asks {url}/poll)
 *   io          {setTimeout, clearTimeout, setInterval, clearInterval, now,
 *               random, randomWords}: the clock and randomness (tests)
 *   share       'auto' (the default), true or false: whether the tabs of
 *               this browser share their connections to the server
 *               (docs/CLIENT.md); 'auto' and true share where there are
 *               Web Locks and BroadcastChannel, else each client connects
 *   locks, BroadcastChannel   the platform's (navigator.locks), for tests
 *   page        what says the page goes away and comes back (pagehide,
 *               pageshow); default: the global object of a page
 * Nothing is sent until connect() (or join()).
 */
export class ParleyClient extends Emitter {
  #where;
  /** The connection, direct or shared, and the transport that counts for the users. */
  #link;
  #connection;
  #session;
  /** Connection and session events to the users' events. */
  #events;

  constructor(options = {}) {
    super();
    const { url, offered = TRANSPORTS, room = 'lobby', io = {} } = options;
    if (typeof url !== 'string') throw new TypeError('ParleyClient needs the server\'s url');
    this.#where = endpoints(url);
    const emit = (name, detail) => this.emit(name, detail);
    this.#events = createClientEvents({ emit, session: () => this.#session, transport: () => this.transport });
    this.#link = createClientLink(options, {
      where: this.#where, offered, events: this.#events.connection, room: () => this.#session.room, emit,
    });
    this.#connection = this.#link.connection;
    this.#session = createSession({
      room, link: this.#connection, emit: (name, detail) => this.#events.fromSession(name, detail), io,
    });
  }

  /** Opens the link (joins follow once join() is called). */
  connect() {
    this.#connection.connect();
    return this;
  }

  /**
   * Joins `room` as `nick` ({nick, room}, each defaulting to the current
   * one): the first join, or a switch of rooms. After a drop the client
   * rejoins by itself. Resolves with the welcome, rejects with a
   * ParleyError (invalid_nick, nick_taken, invalid_room, room_full, ...).
   */
  join(options = {}) {
    return this.#session.join(options);
  }

  /**
   * Sends `text` to the room; queued while offline. Resolves with {ref, id}
   * once the server acknowledges it (once, however often it was resent);
   * the promise's `ref` property is its ref at once.
   */
  say(text) {
    return this.#session.say(String(text));
  }

  /** Tells the room whether we are typing; false when it could not be sent. */
  typing(on = true) {
    return this.#session.typing(on);
  }

  /**
   * Asks for another nickname (the protocol's `nick` frame); resolves with
   * the `renamed` detail, rejects with invalid_nick or nick_taken.
   */
  rename(name) {
    return this.#session.rename(name);
  }

  /** Leaves the room, keeping the connection (join() to come back). */
  leave() {
    this.#session.leave();
  }

  /**
   * Older messages of the current room: up to `limit` before id `before`.
   * Resolves with {messages, more, before}.
   */
  history({ before, limit } = {}) {
    return this.#session.history({ before, limit });
  }

  /**
   * A page of the current room's members, in name order (protocol minor
   * 2): up to `limit` (50; at most limits.max_roster_limit) after the
   * cursor `after` (a page's `next`, or the welcome's `roster_next`),
   * whose nicknames start with `prefix` (case-insensitive). Resolves with
   * {members, next, count}: `next` is null at the end.
   */
  roster({ after, prefix, limit } = {}) {
    return this.#session.roster({ after, prefix, limit });
  }

  /** Reconnects now, skipping any backoff wait (and undoing disconnect()). */
  reconnect() {
    this.#connection.reconnectNow();
  }

  /**
   * Closes the link and stays away until reconnect(); everything waiting
   * is kept (a page going into the back/forward cache).
   */
  disconnect() {
    this.#connection.leave();
  }

  /** Closes the link for good: every promise still waiting rejects with `closed`. */
  close() {
    this.#connection.leave();
    this.#session.closed();
  }

  /** The platform says the network is back: reconnect at once. */
  online() {
    this.#connection.browserOnline();
  }

  /** The platform says the network is gone. */
  offline() {
    this.#connection.browserOffline();
  }

  /** {state, detail, attempt, retryAt}: state is idle, connecting, connected, reconnecting or offline. */
  get status() { return this.#events.status; }

  /** The transport in use, or the next to be tried ('websocket' or 'polling'), or null. */
  get transport() { return this.#link.transportName(); }

  /** Why the client is on long-polling without being asked to, or ''. */
  get fallbackReason() { return this.#link.fallbackReason(); }

  /** Whether this client's connection is shared with other tabs (through the leader tab's). */
  get shared() { return this.#link.shared; }

  /** Whether the link is open. */
  get connected() { return this.#connection.isOpen(); }

  /** Our nickname as the server registered it (null before a welcome). */
  get nick() { return this.#session.nick; }

  /** The nickname the next join asks for. */
  get wantedNick() { return this.#session.wantedNick; }

  /** The room we are in or joining. */
  get room() { return this.#session.room; }

  /** Whether the server has us in a room on this connection. */
  get joined() { return this.#session.joined; }

  /** Whether a join awaits its welcome. */
  get awaitingWelcome() { return this.#session.awaitingWelcome; }

  /** The server's minor version, from the last welcome (0 before it). */
  get minor() { return this.#session.minor; }

  /** The limits of the last welcome (undefined before it). */
  get limits() { return this.#session.limits; }

  /** Whether the server says it cannot store anything at the moment. */
  get degraded() { return this.#session.degraded; }

  /** How many messages wait for their ack. */
  get pending() { return this.#session.pending; }

  /** The server's endpoints: {http, ws, base, origin}. */
  get endpoints() { return { ...this.#where }; }
}

/** A client of the server at `url`, connecting at once. */
export function connect(url, options = {}) {
  return new ParleyClient({ ...options, url }).connect();
}
