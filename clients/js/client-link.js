/*
 * How a client reaches its server, from its options: a connection
 * (connection.js) on the transports it may use (WebSocket and long-polling
 * by default, in the order offered, one of them forced, the tab's earlier
 * fallback recalled from storage and remembered there), either its own or,
 * in a browser whose tabs share their connections, a connection whose one
 * transport is a SharedTransport to the leader tab's hub (tab-link.js).
 * Shared, the transport that counts for the users is the one the leader's
 * real connection uses, which this follows.
 *
 * Owns: the choice between a direct and a shared connection, and, when
 * shared, the leader's transport ({name, why}).
 * Must not touch: the session, the client's events other than
 * `transport` (told when the leader's connection falls back), or the DOM.
 */

import { WS_OPEN_TIMEOUT_MS, createConnection } from './connection.js';
import { firstTransport } from './transport-choice.js';
import { defaultStorage, recalledTransport, rememberTransport } from './memory.js';
import { PollingTransport } from './transport/polling.js';
import { askServer } from './transport/poll-http.js';
import { WebSocketTransport } from './transport/websocket.js';
import { canShare, tabLink } from './tab-link.js';

/**
 * The link of a client with `options` (ParleyClient's) to the server at
 * `where` (endpoints.js), using the transports `offered`. Its connection
 * reports to `events`; `room()` is the client's room (a shared transport
 * opens on it); `emit(name, detail)` tells the client's users.
 */
export function createClientLink(options, { where, offered, events, room, emit }) {
  const { transport = 'auto', io = {} } = options;
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
  /** A real connection to the server, reporting to `to`. */
  const direct = (to) => createConnection({
    transports: factories,
    offered: names,
    forced,
    remembered: recalledTransport(storage, key, names),
    remember: (name) => rememberTransport(storage, key, name),
    probe,
    events: to,
    io,
  });

  /** Shared: the leader's real transport {name, why}; null when not shared. */
  let upstream = null;
  /** Shared: the leader's connection is carried by `name` ('polling' after a fallback). */
  function upstreamIs(name, why) {
    const before = upstream;
    upstream = { name, why: why || '' };
    if (name !== before.name && name === 'polling' && why) emit('transport', { name, why });
  }

  let connection;
  // null (or undefined) handed in means "there is none": no sharing.
  const locks = 'locks' in options ? options.locks : globalThis.navigator && globalThis.navigator.locks;
  const Channel = 'BroadcastChannel' in options ? options.BroadcastChannel : globalThis.BroadcastChannel;
  const share = options.share === undefined ? 'auto' : options.share;
  if (share !== false && canShare(locks, Channel)) {
    // Until the leader's connection says, the one this tab would start on.
    upstream = firstTransport({ offered: names, forced, remembered: recalledTransport(storage, key, names) });
    const page = options.page !== undefined ? options.page : globalThis.document && globalThis;
    const link = tabLink({
      url: where.http, locks, BroadcastChannel: Channel, connect: (_, upEvents) => direct(upEvents), page, clock: timers,
    });
    connection = createConnection({
      transports: {
        shared: () => {
          const shared = link.transport(room);
          shared.ontransport = (name, why) => upstreamIs(name, why);
          return shared;
        },
      },
      offered: ['shared'],
      forced: 'shared',
      probe,
      events,
      io,
    });
  } else {
    connection = direct(events);
  }

  return {
    connection,
    /** Whether the connection is shared with other tabs. */
    get shared() { return upstream !== null; },
    /** The transport in use, or the next to be tried, or null. */
    transportName: () => (upstream ? upstream.name : connection.transportName()),
    /** Why it is on long-polling without being asked to, or ''. */
    fallbackReason: () => (upstream ? upstream.why : connection.fallbackReason()),
  };
}
