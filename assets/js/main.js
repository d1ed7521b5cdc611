/*
 * Parley's browser client, entry point (templates/index.html loads it as
 * <script type="module">; the modules it imports are plain ES modules, no
 * build step). The client chooses a transport (WebSocket first, HTTP
 * long-polling when WebSocket cannot get through), keeps it connected
 * (reconnecting with backoff and resuming where it left off), speaks the
 * JSON frames of src/protocol.rs, and draws the nickname screen, the
 * message list, the roster and the typing line. It keeps no state beyond
 * the page's life except the last nickname (localStorage) and, for the tab,
 * a fallback to long-polling (sessionStorage); it never inserts user data
 * as HTML: every nickname and message text reaches the DOM as text.
 *
 * This file owns the wiring only: it reads the page's settings, makes the
 * connection and the session, and routes each one's events to the other
 * and to the view, and the window's events (address, network, visibility,
 * leaving) to them. It keeps no state of its own and must not draw or
 * decide anything itself. The modules, each owning its own state:
 *   protocol.js         frames, close codes (pure)
 *   backoff.js          reconnect and retry delays (pure)
 *   transport/          websocket.js, polling.js, poll-http.js (no DOM)
 *   connection.js       transport choice and fallback, reconnects, heartbeat (no DOM)
 *   session.js          room, nickname, resume, frame handling (no DOM), with
 *   roster.js, outbox.js  who is here; messages awaiting their ack (no DOM)
 *   older.js            older messages when the list is scrolled to its top (no DOM)
 *   typing.js           our typing indicator (no DOM)
 *   view.js, input.js   drawing the page; the user's controls
 *   message-parts.js    a message's links and mentions of the reader (pure)
 *   wording.js          sentences for the server's error codes, name checks (pure)
 *   format.js, address.js, storage.js   wording, the URL, what is remembered
 *
 * URL: ?room=NAME or #NAME picks the room; ?transport=websocket|polling
 * forces a transport the server offers (body[data-transports]), with no
 * fallback.
 *
 * Stable hooks (tests/browser.rs and tests/proxy_browser.rs rely on them;
 * keep them when refactoring):
 *   #nick-form, #nick-input   the nickname screen
 *   #nick-error               the server's (or the page's) reason a join failed
 *   #message-input            the message box: Enter sends, Shift+Enter adds a line
 *   #messages                 the message list (aria-live); each message is
 *                             li.message[data-id]; a message not yet acknowledged
 *                             is li.message.pending[data-ref] (li.failed if refused);
 *                             a message's text is its span.text (dir="auto"), with
 *                             its links as a.link (http and https only) and
 *                             mentions of the reader as mark.mention (the
 *                             message is then li.message.mentioned);
 *                             notices are li.notice;
 *                             li.notice.history-start tops the list once
 *                             scrolling up has reached the room's oldest message
 *   #roster                   one li.person[data-nick] per participant
 *   #count                    the number of participants, digits only
 *   #typing                   "ann is typing…" (empty when nobody types)
 *   #slow-down                the one "Slow down: N messages are waiting…" line
 *                             while the rate limit holds messages back
 *                             (empty, and not shown, otherwise)
 *   #char-count               characters left near the limit; past it,
 *                             "2,345 characters; the limit is 2,000"
 *   #conn-state               connection state text; data-state is one of
 *                             idle, connecting, connected, reconnecting, offline;
 *                             data-degraded is "true" while the server reports
 *                             that it cannot reach or write its store;
 *                             data-attempt counts reconnects scheduled since the
 *                             last welcome (or the switch to long-polling)
 *   #transport                the transport in use: "websocket" or "polling"
 *                             (its title says why when the page fell back)
 *   #room-name                "#room"
 *   sessionStorage "parley.transport:{base}"  "polling" once the tab fell back
 */

import * as address from './address.js';
import * as input from './input.js';
import * as storage from './storage.js';
import * as view from './view.js';
import {
  WS_OPEN_TIMEOUT_MS, createConnection, forcedTransport, offeredTransports,
} from './connection.js';
import { createSession } from './session.js';
import { createTypingReporter } from './typing.js';
import { PollingTransport } from './transport/polling.js';
import { askServer } from './transport/poll-http.js';
import { WebSocketTransport, webSocketUrl } from './transport/websocket.js';

const page = document.body;
const base = page.dataset.base || '';

/** Implemented transports by the name the server announces. */
const TRANSPORTS = {
  websocket: () => new WebSocketTransport(webSocketUrl(location, base)),
  polling: () => new PollingTransport(base),
};

const offered = offeredTransports(page.dataset.transports, Object.keys(TRANSPORTS));
const forced = forcedTransport(address.askedTransport(location.search), offered);

const timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
};

// The connection, the typing reporter and the session call each other only
// through these closures, once all three exist (nothing runs before
// connection.connect() at the end).
const connection = createConnection({
  transports: TRANSPORTS,
  offered,
  forced,
  remembered: storage.rememberedTransport(base, offered),
  remember: (name) => storage.rememberTransport(base, name),
  probe: () => askServer((url, init) => fetch(url, init), base, timers, WS_OPEN_TIMEOUT_MS),
  events: {
    opened: () => session.linkOpened(),
    frame: (frame) => session.handle(frame),
    closed: ({ code }) => session.linkClosed(code),
    refused: (hint) => view.showRefused(hint),
    state: (state) => view.showConnState(state),
    transport: (name, why) => view.showTransport(name, why),
    notice: (text) => view.notice(text),
  },
});

const typing = createTypingReporter({
  send: connection.send,
  joined: () => session.isJoined(),
});

const session = createSession({
  room: address.currentRoom(),
  link: connection,
  typing,
  view,
  address,
  remember: storage.rememberNick,
  onLimits: input.applyLimits,
  onCommand: input.commandOutcome,
});

view.start({
  room: session.currentRoom(),
  nick: storage.recalledNick(),
  transport: connection.transportName(),
  why: connection.fallbackReason(),
});
input.start({ session, typing });

document.getElementById('messages').addEventListener('scroll', () => {
  view.noteScroll();
  if (view.nearTop()) session.nearTop();
});
document.getElementById('reconnect-now').addEventListener('click', () => connection.reconnectNow());
window.addEventListener('hashchange', () => {
  const room = address.currentRoom();
  if (room === session.currentRoom()) return;
  if (view.isChat()) session.switchRoom(room);
  else session.pickRoom(room);
});
window.addEventListener('online', () => connection.browserOnline());
window.addEventListener('offline', () => connection.browserOffline());
document.addEventListener('visibilitychange', () => view.readAll(session.currentRoom()));
// Closing on the way out lets the others see us leave at once, and lets
// the browser keep the page in its back/forward cache.
window.addEventListener('pagehide', () => {
  connection.leave();
  view.stopCountdown();
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted) connection.reconnectNow();
});

connection.connect();
