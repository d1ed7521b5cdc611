/*
 * The link to the server: which transport carries it (WebSocket first,
 * HTTP long-polling when WebSocket cannot get through, remembered for the
 * tab), keeping it up (reconnecting with backoff, dropping a link its
 * heartbeat finds dead), and passing frames both ways. A
 * WebSocket that closes without ever opening hands over to long-polling
 * only if the server still answers plain HTTP: when it does not, it is
 * down or restarting, polling would fail as well, and giving up WebSocket
 * over a restart would be wrong.
 *
 * Owns: the transport in use and whether it is open, the transport name
 * (and why it is polling), the reconnect attempt counter, its retry timer
 * and the time it fires, its heartbeat (heartbeat.js), and the WebSocket
 * failure counts that decide the fallback. Which transports there are to
 * choose from is transport-choice.js's.
 * Must not touch: the DOM, rooms, nicknames or messages. It reports what
 * happens through the `events` it is given (client-events.js turns them
 * into the session's business and the client's events), and takes its
 * transports, storage, HTTP probe and clock as arguments, so Node can
 * drive it.
 */

import { CLOSE } from './protocol.js';
import { reconnectDelay } from './backoff.js';
import { createHeartbeat } from './heartbeat.js';
import { firstTransport } from './transport-choice.js';

/** A WebSocket that has not opened after this long counts as failed. */
export const WS_OPEN_TIMEOUT_MS = 4000;
/**
 * Once WebSocket has worked in this tab, this many attempts in a row that
 * never open hand over to long-polling. Before it has worked, the first
 * failure does.
 */
export const WS_FAILURES_BEFORE_FALLBACK = 3;

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
  const first = firstTransport({ offered, forced, remembered });
  /** The transport to connect with; null when the server offers none this page speaks. */
  let name = first.name;
  /** Why the page is on long-polling without being asked to (shown as a tooltip). */
  let why = first.why;
  /** A WebSocket has opened in this tab. */
  let wsWorked = false;
  /** WebSocket attempts in a row that never opened while the server answered HTTP. */
  let wsFailures = 0;
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
    if (!name) {
      setState('offline', 'no transport this page speaks');
      return;
    }
    const chosen = name;
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
      if (chosen === 'websocket') {
        wsWorked = true;
        wsFailures = 0;
      }
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
    if (chosen === 'websocket' && canFallBack()) {
      // A proxy may hold an upgrade it does not understand rather than refuse it.
      openTimer = clock.setTimeout(() => {
        if (!current() || opened) return;
        link.close();
        noteFailedOpen(chosen);
        onClose({ code: CLOSE.ABNORMAL, reason: 'no answer to the upgrade' });
      }, WS_OPEN_TIMEOUT_MS);
    }
  }

  function canFallBack() {
    return name === 'websocket' && forced === null && offered.includes('polling');
  }

  /**
   * A transport closed without ever opening. For WebSocket that may mean a
   * proxy or firewall in the way: hand over to long-polling, for good in
   * this tab (resuming with since/resume on the new transport loses
   * nothing). Only failures of WebSocket itself count (see the top).
   */
  function noteFailedOpen(failed) {
    // A tab's link to the leader tab's shared connection that closes before
    // opening may be the server refusing this page: the leader's own probe
    // may answer after that connection was given up, so the tab asks too.
    if (failed !== 'websocket' && failed !== 'shared') return;
    // Even with WebSocket forced, the probe tells a refused page why (a
    // browser hides the status of a refused upgrade).
    probe().then((result) => {
      const answers = typeof result === 'object' && result !== null ? result.answers : result;
      const refused = typeof result === 'object' && result !== null ? result.refused : null;
      if (refused && !open && !stopped) {
        refuse(refused);
        return;
      }
      if (!answers || !canFallBack() || open) return;
      wsFailures += 1;
      if (wsWorked && wsFailures < WS_FAILURES_BEFORE_FALLBACK) return;
      fallBack();
    });
  }

  function fallBack() {
    why = wsWorked ? `WebSocket failed ${wsFailures} times in a row` : 'WebSocket could not connect';
    name = 'polling';
    attempt = 0;
    remember('polling');
    events.transport(name, why);
    if (wsWorked) events.notice('WebSocket keeps failing here; switching to long-polling.');
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
    transportName: () => name,
    /** Why the page is on long-polling without being asked to, or ''. */
    fallbackReason: () => why,
  };
}
