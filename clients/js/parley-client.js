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
 * Owns: the wiring of one connection (connection.js) and one session
 * (session.js) and the events its users see; its options; whether a
 * handover to another leader tab is under way, and which transport the
 * leader's connection uses.
 * Must not touch: the DOM, or any state of the modules it wires (each owns
 * its own). A transport is any object with connect/send/close and the
 * onopen/onframe/onclose callbacks, made by the `transports` factories.
 */

import { CLOSE, PROTOCOL_VERSION } from './protocol.js';
import { WS_OPEN_TIMEOUT_MS, createConnection } from './connection.js';
import { firstTransport, offeredTransports } from './transport-choice.js';
import { createSession } from './session.js';
import { Emitter } from './emitter.js';
import { endpoints } from './endpoints.js';
import { defaultStorage, recalledTransport, rememberTransport } from './memory.js';
import { ParleyError } from './outbox.js';
import { PollingTransport } from './transport/polling.js';
import { askServer } from './transport/poll-http.js';
import { WebSocketTransport } from './transport/websocket.js';
import { canShare, tabLink } from './tab-link.js';

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
  /** Not in a room (asked for history or a rename before a welcome). */
  not_joined: 'not_joined',
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
  #connection;
  #session;
  #status = { state: 'idle', detail: undefined, attempt: 0, retryAt: 0 };
  /** Shared: the leader's real transport {name, why}; null when not shared. */
  #upstream = null;
  /** Shared: the leader tab went away, and the rejoin on the next has not been welcomed. */
  #handingOver = false;

  constructor(options = {}) {
    super();
    const {
      url, transport = 'auto', offered = TRANSPORTS, room = 'lobby', io = {},
    } = options;
    if (typeof url !== 'string') throw new TypeError('ParleyClient needs the server\'s url');
    this.#where = endpoints(url);
    const where = this.#where;
    const fetch = options.fetch || ((target, init) => globalThis.fetch(target, init));
    const WebSocketClass = options.WebSocket || globalThis.WebSocket;
    const factories = options.transports || {
      websocket: () => new WebSocketTransport(where.ws, WebSocketClass),
      polling: () => new PollingTransport(where.http, { ...io, fetch }),
    };
    const names = offered.filter((name) => Object.hasOwn(factories, name));
    const forced = transport !== 'auto' && names.includes(transport) ? transport : null;
    const storage = options.storage === undefined ? defaultStorage() : options.storage;
    const key = options.storageKey || `parley.transport:${where.http}`;
    const timers = {
      setTimeout: io.setTimeout || ((fn, ms) => setTimeout(fn, ms)),
      clearTimeout: io.clearTimeout || ((id) => clearTimeout(id)),
    };
    const probe = options.probe || (() => askServer(fetch, where.http, timers, WS_OPEN_TIMEOUT_MS));
    /** A real connection to the server, reporting to `events`. */
    const direct = (events) => createConnection({
      transports: factories,
      offered: names,
      forced,
      remembered: recalledTransport(storage, key, names),
      remember: (name) => rememberTransport(storage, key, name),
      probe,
      events,
      io,
    });

    const events = {
      opened: () => {
        if (!this.#handingOver) this.emit('open', { transport: this.transport });
        this.#session.linkOpened();
        // Not joined: there is no welcome to wait for.
        if (!this.#session.awaitingWelcome) this.#handingOver = false;
      },
      frame: (frame) => {
        this.emit('frame', frame);
        this.#session.handle(frame);
      },
      closed: ({ code, reason }) => {
        const wasJoined = this.#session.linkClosed(code);
        if (code === CLOSE.HANDOVER) {
          // Another tab takes over the shared connection: the client
          // rejoins at once, and its users see nothing of it.
          this.#handingOver = true;
          return;
        }
        this.#handingOver = false;
        this.emit('close', {
          code, reason: reason || '', wasJoined, replaced: code === CLOSE.REPLACED,
        });
      },
      refused: (hint) => this.emit('error', {
        code: 'origin_not_allowed', message: hint, hint, fatal: true,
      }),
      state: ({ kind, detail, attempt, retryAt }) => {
        if (this.#handingOver) return;
        this.#status = { state: kind, detail, attempt, retryAt };
        this.emit('status', { ...this.#status, transport: this.transport });
      },
      transport: (name, why) => this.emit('transport', { name, why }),
      notice: (text) => this.emit('notice', { text }),
    };

    // null (or undefined) handed in means "there is none": no sharing.
    const locks = 'locks' in options ? options.locks : globalThis.navigator && globalThis.navigator.locks;
    const Channel = 'BroadcastChannel' in options ? options.BroadcastChannel : globalThis.BroadcastChannel;
    const share = options.share === undefined ? 'auto' : options.share;
    if (share !== false && canShare(locks, Channel)) {
      // Until the leader's connection says, the one this tab would start on.
      this.#upstream = firstTransport({ offered: names, forced, remembered: recalledTransport(storage, key, names) });
      const page = options.page !== undefined ? options.page : globalThis.document && globalThis;
      const link = tabLink({
        url: where.http, locks, BroadcastChannel: Channel, connect: (_, upEvents) => direct(upEvents), page,
      });
      this.#connection = createConnection({
        transports: {
          shared: () => {
            const shared = link.transport(() => this.#session.room);
            shared.ontransport = (name, why) => this.#upstreamIs(name, why);
            return shared;
          },
        },
        offered: ['shared'],
        forced: 'shared',
        events,
        io,
      });
    } else {
      this.#connection = direct(events);
    }
    this.#session = createSession({
      room,
      link: this.#connection,
      emit: (name, detail) => {
        if (name === 'welcome') {
          // The rejoin after another tab took over the shared connection.
          detail.handover = this.#handingOver;
          this.#handingOver = false;
        }
        this.emit(name, detail);
      },
      io,
    });
  }

  /** Shared: the leader's connection is carried by `name` ('polling' after a fallback). */
  #upstreamIs(name, why) {
    const before = this.#upstream;
    this.#upstream = { name, why: why || '' };
    if (name !== before.name && name === 'polling' && why) this.emit('transport', { name, why });
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
  get status() { return { ...this.#status }; }

  /** The transport in use, or the next to be tried ('websocket' or 'polling'), or null. */
  get transport() { return this.#upstream ? this.#upstream.name : this.#connection.transportName(); }

  /** Why the client is on long-polling without being asked to, or ''. */
  get fallbackReason() { return this.#upstream ? this.#upstream.why : this.#connection.fallbackReason(); }

  /** Whether this client's connection is shared with other tabs (through the leader tab's). */
  get shared() { return this.#upstream !== null; }

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
