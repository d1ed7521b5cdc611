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
 * Everything the page says to the server, and hears from it, goes through
 * the client library, parley-client.js (clients/js/ in the repository,
 * served beside the page under client/): transports, fallback, reconnects,
 * resume, acks and the offline queue are its business. The page's own
 * modules draw and take input. The library also lets the tabs of one
 * browser share their connection (one per room, held by a leader tab;
 * docs/CLIENT.md): each tab still draws its own view, and tabs in the same
 * room are one member, with one nickname.
 *
 * This file owns the wiring only: it reads the page's settings, makes the
 * client and the chat, and routes the window's events (address, network,
 * visibility, leaving) to them. It keeps no state of its own and must not
 * draw or decide anything itself. The modules, each owning its own state:
 *   ../client/          parley-client.js and its modules (no DOM; the library)
 *   chat.js             the library's events drawn, the user's asks passed on (no DOM);
 *                       its parts: chat-messages.js (messages, "sending…", older),
 *                       chat-presence.js (the roster, presence lines, typing),
 *                       chat-lines.js (room switches, the reconnect line)
 *   roster.js           who is here (no DOM)
 *   roster-pager.js     a big room's roster in pages, and its search (no DOM)
 *   older.js            older messages when the list is scrolled to its top (no DOM)
 *   typing.js           our typing indicator (no DOM)
 *   view.js             drawing the page, gathered from its parts (view.js lists
 *                       them: the message list, new messages, the roster panel,
 *                       the nickname screen, the room's title, the link's status)
 *   input.js            the user's controls
 *   message-box.js      the message box: sending, its counter, the /commands
 *   commands.js         reading the box: message, command or nothing (pure)
 *   message-parts.js    a message's links and mentions of the reader (pure)
 *   timeline.js, unread.js, returning.js   grouping and date lines, the
 *                       "new messages" divider, who is coming back (pure)
 *   wording.js          sentences for the server's error codes, name checks (pure)
 *   format.js, address.js, storage.js   wording, the URL, the nickname remembered
 *   clock.js            the browser's timers, the default of the modules that keep time
 *   day-turn.js         relabels the date lines at local midnight
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
 *                             scrolling up has reached the room's oldest message;
 *                             li.message.continued runs on from the sender's
 *                             message above (name and time visually hidden);
 *                             li.day-separator[data-ts] ("Today", …) opens each
 *                             day, said again when the day turns;
 *                             li.unread-divider stands above messages that
 *                             came unseen; li.empty-room greets an empty room
 *   #jump-new                 "N new messages" while such messages are below
 *   #room-error, #join-status the nickname screen: why the address's room
 *                             cannot be joined (a#room-suggestion offers one
 *                             that can); "Waiting for the server…" by Join
 *   #roster                   one li.person[data-nick] per participant (in a
 *                             room listed in pages, those loaded so far, or a
 *                             search's results); it scrolls, and loads more
 *                             at its end
 *   #count                    the number of participants, digits only
 *   #roster-search            the search by name prefix (its form
 *                             #roster-search-form shows only when the room
 *                             is listed in pages)
 *   #roster-note              "Showing 30 of 1,204 people…", or a search's outcome
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
import { ParleyClient, TRANSPORTS, offeredTransports } from '../client/parley-client.js';
import { createChat } from './chat.js';
import { createDayTurn } from './day-turn.js';
import { createTypingReporter } from './typing.js';

const page = document.body;
const base = page.dataset.base || '';

const client = new ParleyClient({
  url: `${base}/`,
  offered: offeredTransports(page.dataset.transports, TRANSPORTS),
  transport: address.askedTransport(location.search) || 'auto',
  // The key the page has always used (tests and people look for it).
  storageKey: `parley.transport:${base}`,
});

// The typing reporter and the chat call each other only through these
// closures, once both exist (nothing runs before client.connect() at the end).
const typing = createTypingReporter({
  signal: (on) => client.typing(on),
  joined: () => chat.isJoined(),
});

const chat = createChat({
  client,
  room: address.currentRoom(),
  typing,
  view,
  address,
  remember: storage.rememberNick,
  onLimits: input.applyLimits,
  onCommand: input.commandOutcome,
});

view.start({
  room: chat.currentRoom(),
  nick: storage.recalledNick(),
  transport: client.transport,
  why: client.fallbackReason,
});
input.start({ session: chat, typing });

document.getElementById('messages').addEventListener('scroll', () => {
  view.noteScroll();
  if (view.nearTop()) chat.nearTop();
});
document.getElementById('roster').addEventListener('scroll', () => {
  if (view.rosterNearEnd()) chat.rosterNearEnd();
});
document.getElementById('reconnect-now').addEventListener('click', () => client.reconnect());
window.addEventListener('hashchange', () => {
  const room = address.currentRoom();
  if (room === chat.currentRoom()) return;
  if (view.isChat()) chat.switchRoom(room);
  else chat.pickRoom(room);
});
window.addEventListener('online', () => client.online());
window.addEventListener('offline', () => client.offline());
// "Today" and "Yesterday" are said again when the day turns.
const dayTurn = createDayTurn({ relabel: (now) => view.relabelDays(now) });
dayTurn.start();
document.addEventListener('visibilitychange', () => {
  view.readAll(chat.currentRoom());
  if (document.visibilityState === 'visible') dayTurn.shown();
});
// Closing on the way out lets the others see us leave at once, and lets
// the browser keep the page in its back/forward cache; what waits to be
// sent is kept and goes when the page comes back.
window.addEventListener('pagehide', () => {
  client.disconnect();
  view.stopCountdown();
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted) client.reconnect();
});

client.connect();
