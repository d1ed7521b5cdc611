/*
 * The link to the server: keeping it up (reconnecting with backoff,
 * dropping a link its heartbeat finds dead, stopping for good when the
 * server refuses this page or another window took the session over), and
 * passing frames both ways, on the transport transport-fallback.js picks
 * (WebSocket first, HTTP long-polling when WebSocket cannot get through).
 * A WebSocket upgrade that a proxy holds unanswered counts as failed after
 * WS_OPEN_TIMEOUT_MS.
 *
 * Owns: the transport in use and whether it is open, the reconnect
 * attempt counter, its retry timer and the time it fires, the upgrade's
 * timer, and its heartbeat (heartbeat.js). Which transport to use is
 * transport-fallback.js's.
 * Must not touch: the DOM, rooms, nicknames or messages. It reports what
 * happens through the `events` it is given (client-events.js turns them
 * into the session's business and the client's events), and takes its
 * transports, storage, HTTP probe and clock as arguments, so Node can
 * drive it.
 */

import { CLOSE } from './protocol.js';
import { reconnectDelay } from './backoff.js';
import { createHeartbeat } from './heartbeat.js';
import { WS_OPEN_TIMEOUT_MS, createTransportFallback } from './transport-fallback.js';

export { WS_FAILURES_BEFORE_FALLBACK, WS_OPEN_TIMEOUT_MS } from './transport-fallback.js';

const BROWSER_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id),
  now: () => Date.now(),
  random: () => Math.random(),
};

/**
 * A connection. Arguments:
 *   transports  name -> () => a new transport (see transport/polling.js)
 *   offered     the names to use, preferred first (offeredTransports)
 *   forced      the name ?transport= forces, or null
 *   remembered  the tab's earlier fallback ('polling'), or null
 *   remember    (name) => void: keeps the fallback for the tab
 *   probe       () => Promise<bool | {answers, refused}>: whether the server
 *               answers plain HTTP, and the hint of its refusal of this page
 *   events      {opened(), frame(frame), closed({code, reason}), refused(hint),
 *                state({kind, detail, attempt, retryAt}), transport(name, why),
 *                notice(text)}; state kinds: idle, connecting, connected,
 *                reconnecting, offline
 *   io          {setTimeout, clearTimeout, setInterval, clearInterval, now, random}
 * Nothing happens until connect().
 */
export function createConnection({
  transports, offered, forced = null, remembered = null, remember = () => {},
  probe = async () => false, events, io = {},
}) {
  const clock = { ...BROWSER_IO, ...io };
  const choice = createTransportFallback({
    offered, forced, remembered, remember, probe,
  });
  let openTimer = 0;
  let transport = null;
  let open = false;
  /** No reconnecting (replaced by another window, or the page is going away). */
  let stopped = false;
  let attempt = 0;
  let retryTimer = 0;
  let retryAt = 0;
  const heartbeat = createHeartbeat({ clock, ping: () => send({ type: 'ping' }), dead: () => dropLink() });
  /** What the transports have told the page, so each is said once. */
  const noticed = new Set();

  function setState(kind, detail) {
    events.state({ kind, detail, attempt, retryAt });
  }

  function connect() {
    clock.clearTimeout(retryTimer);
    if (transport) return;
    if (!choice.name) {
      setState('offline', 'no transport this page speaks');
      return;
    }
    const chosen = choice.name;
    const link = transports[chosen]();
    transport = link;
    open = false;
    setState('connecting');
    let opened = false;
    // Callbacks of a transport that has since been replaced are ignored.
    const current = () => link === transport;
    link.onopen = () => {
      if (!current()) return;
      opened = true;
      clock.clearTimeout(openTimer);
      choice.opened(chosen);
      onOpen();
    };
    link.onnotice = (text) => {
      // Said once a tab, however often the link is made again.
      if (!noticed.has(text)) events.notice(text);
      noticed.add(text);
    };
    link.onframe = (frame) => {
      if (!current()) return;
      heartbeat.heard();
      events.frame(frame);
    };
    link.onclose = (info) => {
      if (!current()) return;
      clock.clearTimeout(openTimer);
      if (!opened) noteFailedOpen(chosen);
      onClose(info);
    };
    link.connect();
    clock.clearTimeout(openTimer);
    if (chosen === 'websocket' && choice.canFallBack()) {
      // A proxy may hold an upgrade it does not understand rather than refuse it.
      openTimer = clock.setTimeout(() => {
        if (!current() || opened) return;
        link.close();
        noteFailedOpen(chosen);
        onClose({ code: CLOSE.ABNORMAL, reason: 'no answer to the upgrade' });
      }, WS_OPEN_TIMEOUT_MS);
    }
  }

  /**
   * A transport closed without ever opening. For WebSocket that may mean a
   * proxy or firewall in the way: hand over to long-polling, for good in
   * this tab (resuming with since/resume on the new transport loses
   * nothing); or the server refuses this page.
   */
  function noteFailedOpen(failed) {
    choice.failedOpen(failed, {
      settled: () => open || stopped,
      refuse,
      fallBack,
    });
  }

  function fallBack({ worked }) {
    attempt = 0;
    events.transport(choice.name, choice.why);
    if (worked) events.notice('WebSocket keeps failing here; switching to long-polling.');
    if (stopped) return;
    // A WebSocket attempt begun meanwhile has not opened (or `open` would
    // have stopped us): drop it and poll at once, without backoff.
    if (transport) {
      clock.clearTimeout(openTimer);
      transport.close();
      transport = null;
    }
    connect();
  }

  function onOpen() {
    open = true;
    heartbeat.start();
    setState('connected');
    events.opened();
  }

  function onClose(info) {
    transport = null;
    open = false;
    heartbeat.stop();
    events.closed(info);
    if (info.code === CLOSE.REPLACED) {
      stopped = true;
      setState('offline', 'opened elsewhere');
      return;
    }
    if (info.code === CLOSE.REFUSED) {
      refuse(info.reason);
      return;
    }
    if (stopped) {
      setState('offline');
      return;
    }
    if (info.code === CLOSE.HANDOVER) {
      // Another tab holds the shared connection now: no backoff.
      connect();
      return;
    }
    scheduleReconnect();
  }

  /** The server refused this page: no retrying into the same answer. */
  function refuse(hint) {
    stopped = true;
    clock.clearTimeout(retryTimer);
    if (transport) {
      clock.clearTimeout(openTimer);
      transport.close();
      transport = null;
    }
    events.refused(hint || 'the server refused this page');
    setState('offline', 'refused by the server');
  }

  function scheduleReconnect() {
    const delay = reconnectDelay(attempt, clock.random);
    attempt += 1;
    retryAt = clock.now() + delay;
    clock.clearTimeout(retryTimer);
    retryTimer = clock.setTimeout(connect, delay);
    setState('reconnecting');
  }

  /** Gives up on the current link (it stopped answering) and reconnects. */
  function dropLink() {
    if (!transport) return;
    clock.clearTimeout(openTimer);
    transport.close();
    onClose({ code: CLOSE.ABNORMAL });
  }

  /** Sends a frame on the open link; false when there is none or it refused. */
  function send(frame) {
    return open && transport !== null && transport.send(frame);
  }

  return {
    connect,
    send,
    dropLink,
    /** Connects now, skipping any backoff wait; undoes a stop. */
    reconnectNow() {
      stopped = false;
      if (!transport) connect();
    },
    /** The page is going away: close the link and do not come back. */
    leave() {
      stopped = true;
      clock.clearTimeout(retryTimer);
      dropLink();
    },
    /**
     * Another tab takes this link over: close it without its member
     * leaving (transports without handOver() just close), and stop.
     */
    handOver() {
      stopped = true;
      clock.clearTimeout(retryTimer);
      if (!transport) return;
      clock.clearTimeout(openTimer);
      const link = transport;
      transport = null;
      open = false;
      heartbeat.stop();
      if (typeof link.handOver === 'function') link.handOver();
      else link.close();
    },
    /** A welcome came: the link works, so the backoff starts over. */
    welcomed() {
      attempt = 0;
      setState('connected');
    },
    /** The browser says the network is back. */
    browserOnline() {
      if (!transport && !stopped) connect();
    },
    /** The browser says the network is gone. */
    browserOffline() {
      if (!transport) setState('reconnecting');
    },
    isOpen: () => open,
    /** The transport in use or next tried, or null. */
    transportName: () => choice.name,
    /** Why the page is on long-polling without being asked to, or ''. */
    fallbackReason: () => choice.why,
  };
}
