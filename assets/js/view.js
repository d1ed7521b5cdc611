/*
 * Drawing the page (templates/index.html, styled by chat.css): the two
 * screens (nickname, chat), the message list with its notices and pending
 * items, the roster, the typing line, the room's name and the unread count
 * in the title, the connection state with its reconnect countdown, and
 * the transport in use. Older messages go above the others without moving
 * what is in view, under "Beginning of the room" once there are no more. The Stable hooks the browser tests rely on are
 * listed in main.js; most of them are drawn here.
 *
 * User text (nicknames, messages, the server's error messages) reaches
 * the DOM only through textContent and text nodes, never as HTML. Links in
 * messages are <a> elements made here from message-parts.js's parts (only
 * http and https, opened in a new tab without opener or referrer);
 * mentions of the reader are <mark class="mention">. Message texts and
 * nicknames carry dir="auto", so right-to-left text lays out as it
 * should.
 *
 * The list reads as a conversation: a sender's messages a few minutes
 * apart share one name and time (li.continued), a date line
 * (li.day-separator: "Today", "Yesterday", a date) opens each day, and
 * messages that came while the reader was scrolled up or away get a "New"
 * divider above them and a jump button that counts them (timeline.js and
 * unread.js hold the rules). An empty room greets the reader with who is
 * there.
 *
 * Owns: the DOM under <body> except the form controls' values (input.js),
 * which screen is shown, whether the list follows its end, the unread and
 * mention counts, the unread marker, and the countdown timer.
 * Must not touch: the network, storage, or any other module's state; it
 * draws what it is told. It touches the DOM only when called (never on
 * import).
 */

import {
  clockTime, connText, countdownText, nickHue, othersHereText, titleText, typingText,
} from './format.js';
import { messageParts } from './message-parts.js';
import { continues, dayKey, dayLabel } from './timeline.js';
import { UnreadMarker, jumpText } from './unread.js';
import { roomAdvice, slowDownText } from './wording.js';

/** Rendered list items kept; older ones are removed so memory stays flat. */
export const MAX_RENDERED = 1000;

const $ = (id) => document.getElementById(id);

/** 'login' or 'chat'. */
let screen = 'login';
/** The list is scrolled to its end, so new items keep it there. */
let following = true;
/** Messages that arrived while the tab was hidden. */
let unread = 0;
/** Of those, the ones that mention the reader. */
let mentioned = 0;
let countdownTimer = 0;
let countdownTo = 0;
/** Messages that came while the reader could not see them (unread.js). */
const marker = new UnreadMarker();
/** Who else is here, for the empty room's greeting (from the last showRoster). */
let emptyHere = '';

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function nickSpan(nick) {
  const span = el('span', 'nick', nick);
  span.dir = 'auto';
  span.style.setProperty('--hue', String(nickHue(nick)));
  return span;
}

/**
 * span.text holding a message's text: text nodes, links (a new tab, no
 * opener, no referrer) and, when `me` is given, mentions of `me`.
 */
function textSpan(text, me) {
  const span = el('span', 'text');
  span.dir = 'auto';
  for (const part of messageParts(text, me)) {
    if (part.kind === 'link') {
      const link = el('a', 'link', part.text);
      link.href = part.href;
      link.rel = 'noopener noreferrer';
      link.target = '_blank';
      span.append(link);
    } else if (part.kind === 'mention') {
      span.append(el('mark', 'mention', part.text));
    } else {
      span.append(document.createTextNode(part.text));
    }
  }
  return span;
}

function timeElement(ts) {
  const when = new Date(ts);
  const time = el('time', 'time', clockTime(when));
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  return time;
}

// ---- The message list -------------------------------------------------------

/** Whether the end of the list is in view (or near it). */
function atEnd() {
  const list = $('messages');
  return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
}

/** A message from the server, as drawn: {nick, ts} of an li.message[data-ts]. */
function shownMessage(li) {
  if (!li || !li.matches('li.message[data-ts]')) return null;
  return { nick: li.dataset.nick, ts: Number(li.dataset.ts) };
}

/** li.day-separator: the date line above a day's first message. */
function dayLine(ts) {
  const li = el('li', 'day-separator');
  li.dataset.day = dayKey(ts);
  const label = el('span', 'day-label', dayLabel(ts, Date.now()));
  li.append(label);
  return li;
}

/**
 * The item above `li` that says which day it is (a message or a date
 * line), skipping notices; from `prev` upwards.
 */
function datedAbove(prev) {
  let node = prev;
  while (node && !node.matches('li.message[data-ts], li.day-separator')) node = node.previousElementSibling;
  return node;
}

function dayOf(node) {
  return node.classList.contains('day-separator') ? node.dataset.day : dayKey(Number(node.dataset.ts));
}

/**
 * Fits message `li` in below `prev` (null at the top): a date line before
 * it when its day differs from the last one above, else li.continued when
 * it runs on from the message just above (timeline.js). A notice (which
 * happens now) gets a date line only when the day above is another one.
 * Returns the nodes to insert, in order.
 */
function placed(li, prev) {
  const dated = datedAbove(prev);
  if (li.classList.contains('notice')) {
    const now = Date.now();
    return dated && dayOf(dated) !== dayKey(now) ? [dayLine(now), li] : [li];
  }
  const here = shownMessage(li);
  if (!here) return [li];
  li.classList.remove('continued');
  if (!dated || dayOf(dated) !== dayKey(here.ts)) return [dayLine(here.ts), li];
  if (continues(shownMessage(prev), here)) li.classList.add('continued');
  return [li];
}

/** The top of the list after trimming or prepending: a first message heads its group. */
function tidyTop(list) {
  let first = list.firstElementChild;
  while (first && first.classList.contains('history-start')) first = first.nextElementSibling;
  if (first && first.classList.contains('message')) first.classList.remove('continued');
}

/**
 * Adds an item before the pending placeholders (they stay last until
 * acknowledged) and trims the oldest items past MAX_RENDERED. A message
 * of anyone's ends the empty room's greeting.
 */
function insertItem(li) {
  const list = $('messages');
  following = atEnd();
  const firstPending = list.querySelector(':scope > li.pending');
  const before = li.classList.contains('pending') ? null : firstPending;
  if (li.classList.contains('message')) list.querySelector(':scope > li.empty-room')?.remove();
  const prev = before ? before.previousElementSibling : list.lastElementChild;
  for (const node of placed(li, prev)) list.insertBefore(node, before);
  let trimmed = false;
  while (list.children.length > MAX_RENDERED && !list.firstElementChild.classList.contains('pending')) {
    list.firstElementChild.remove();
    trimmed = true;
  }
  if (trimmed) tidyTop(list);
}

/**
 * li.message[data-id] (.own when ours); in others' messages, mentions of
 * `me` are marked, and the item is li.mentioned. data-nick and data-ts
 * are what grouping reads.
 */
function messageItem(m, own, me) {
  const li = el('li', 'message');
  li.dataset.id = String(m.id);
  li.dataset.nick = m.nick;
  li.dataset.ts = String(m.ts);
  if (own) li.classList.add('own');
  const text = textSpan(m.text, own ? null : me);
  if (text.querySelector('mark.mention')) li.classList.add('mentioned');
  li.append(timeElement(m.ts), ' ', nickSpan(m.nick), el('span', 'visually-hidden', ': '), text);
  return li;
}

/** The "new messages" divider, if drawn. */
function divider() {
  return $('messages').querySelector(':scope > li.unread-divider');
}

/** The jump button: shown while messages came unseen and the end is out of view. */
function drawJump() {
  const button = $('jump-new');
  const show = marker.unseen > 0 && !atEnd();
  button.hidden = !show;
  if (show) button.querySelector('.jump-count').textContent = jumpText(marker.unseen);
}

/** The reader has the end in view with the tab visible: nothing is unseen. */
function catchUp() {
  if (!document.hidden && atEnd() && marker.caughtUp()) drawJump();
}

/**
 * A message from the server (see messageItem); `me` is the reader's
 * nickname. Someone else's message the reader cannot see arrive (the list
 * is scrolled up, or the tab hidden) may get the "new messages" divider
 * above it (unread.js) and is counted on the jump button.
 */
export function addMessage(m, own, me) {
  const li = messageItem(m, own, me);
  if (own) {
    marker.ownMessage();
    divider()?.remove();
    insertItem(li);
    drawJump();
    return;
  }
  const { divider: mark } = marker.arrived(atEnd() && !document.hidden);
  if (mark) {
    divider()?.remove();
    const line = el('li', 'unread-divider');
    line.setAttribute('aria-hidden', 'true');
    line.append(el('span', 'unread-label', 'New'));
    insertItem(line);
  }
  insertItem(li);
  drawJump();
}

/** The jump button was pressed: to the end, where the new messages are. */
export function jumpToEnd() {
  scrollToEnd();
  catchUp();
  drawJump();
  $('message-input').focus();
}

/**
 * Puts `nodes` at the top of the list, keeping what is in view where it
 * is: the distance from the list's end stays the same, and everything
 * from the old top down moves by what was added.
 */
function prependKeepingView(nodes) {
  const list = $('messages');
  const fromEnd = list.scrollHeight - list.scrollTop;
  list.prepend(...nodes);
  list.scrollTop = list.scrollHeight - fromEnd;
}

/**
 * Older messages ([{message, own, me}], oldest first) above all the
 * others, with their date lines and groups; where they meet the old top,
 * a date line of the same day goes and the groups join.
 */
export function prependMessages(items) {
  const list = $('messages');
  const nodes = [];
  let prev = null;
  for (const { message, own, me } of items) {
    const li = messageItem(message, own, me);
    nodes.push(...placed(li, prev));
    prev = li;
  }
  if (nodes.length === 0) return;
  list.querySelector(':scope > li.empty-room')?.remove();
  // The old top, under "Beginning of the room" if that was there; what is
  // in view stays put by keeping the first old item that stays where it
  // was on the screen (the date line above it may go).
  let top = list.firstElementChild;
  while (top && top.classList.contains('history-start')) top = top.nextElementSibling;
  const anchor = top && top.classList.contains('day-separator') ? top.nextElementSibling : top;
  if (!anchor) {
    prependKeepingView(nodes);
    return;
  }
  const before = anchor.getBoundingClientRect().top;
  list.prepend(...nodes);
  if (top.classList.contains('day-separator') && top.dataset.day === dayOf(prev)) {
    top.remove();
    top = anchor;
  }
  if (top.classList.contains('message') && top.previousElementSibling === prev
      && continues(shownMessage(prev), shownMessage(top))) {
    top.classList.add('continued');
  }
  tidyTop(list);
  list.scrollTop += anchor.getBoundingClientRect().top - before;
}

/**
 * li.notice.history-start at the top: the room has nothing older;
 * `atStart` when that is its first message, else it forgot the older ones.
 */
export function showBeginning(atStart) {
  const list = $('messages');
  const old = list.querySelector(':scope > li.history-start');
  if (old) old.remove();
  const text = atStart ? 'Beginning of the room' : 'Older messages are no longer kept';
  prependKeepingView([el('li', 'notice history-start', text)]);
}

/** Whether the top of the list is in view (or near it), as when it does not scroll. */
export function nearTop() {
  return $('messages').scrollTop < 48;
}

/** A message of ours not yet acknowledged: li.message.pending[data-ref]. Returns it. */
export function addPending(ref, text, nick) {
  const li = el('li', 'message own pending');
  li.dataset.ref = ref;
  li.append(el('span', 'time', '--:--'), ' ', nickSpan(nick),
    el('span', 'visually-hidden', ': '), textSpan(text, null), el('span', 'status', 'sending…'));
  insertItem(li);
  scrollToEnd();
  return li;
}

/** Removes an item (a pending message acknowledged or shown). */
export function dropItem(li) {
  li.remove();
}

/** A pending message the server refused: li.failed, saying why (a sentence). */
export function markFailed(li, why) {
  li.classList.replace('pending', 'failed');
  li.querySelector('.status').textContent = `Not sent. ${why}`;
}

/** Empties the list but for `items` (another room's messages go). */
export function resetMessages(items) {
  $('messages').replaceChildren(...items);
  marker.reset();
  drawJump();
}

/**
 * A line from the page rather than a person: li.notice (.error for
 * trouble). Returns it, for reword().
 */
export function notice(text, kind) {
  const li = el('li', kind === 'error' ? 'notice error' : 'notice', text);
  insertItem(li);
  scrollIfFollowing();
  return li;
}

/**
 * Rewords notice `li` in place (the reconnect line: "Connection lost…"
 * becomes "Reconnected."), or adds a new one when it is no longer in the
 * list (another room, or trimmed).
 */
export function reword(li, text, kind) {
  if (!li || !li.isConnected) return notice(text, kind);
  li.textContent = text;
  li.className = kind === 'error' ? 'notice error' : 'notice';
  return li;
}

/**
 * li.empty-room: the greeting of a room with no messages yet ("No
 * messages yet in #room — say hello.", `recent` when older ones were
 * forgotten) and who else is here; it goes with the first message.
 * showRoster() keeps who is here up to date.
 */
export function showEmptyRoom(room, { recent = false } = {}) {
  const list = $('messages');
  if (list.querySelector(':scope > li.message')) return;
  list.querySelector(':scope > li.empty-room')?.remove();
  const li = el('li', 'empty-room');
  li.append(
    el('p', 'empty-title', `No ${recent ? 'recent ' : ''}messages yet in #${room} — say hello.`),
    el('p', 'empty-here', emptyHere),
  );
  list.append(li);
}

/**
 * #slow-down: the one line saying how many messages wait for the rate
 * limit, redrawn in place; emptied (and so hidden) at 0. Only its
 * appearance is announced: the line is a status region, and the count is
 * in a span that is not live.
 */
export function showSlowDown(waiting) {
  const line = $('slow-down');
  if (!(waiting > 0)) {
    line.replaceChildren();
    return;
  }
  const says = line.firstElementChild;
  if (says) {
    says.textContent = slowDownText(waiting);
    return;
  }
  const fresh = el('span', '', slowDownText(waiting));
  fresh.setAttribute('aria-live', 'off');
  line.append(fresh);
}

export function scrollIfFollowing() {
  if (following) scrollToEnd();
}

export function scrollToEnd() {
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
  following = true;
}

/**
 * The user scrolled the list: follow its end only while it is there, and
 * reaching it catches the reader up (the jump button goes).
 */
export function noteScroll() {
  following = atEnd();
  catchUp();
}

// ---- Roster and typing ------------------------------------------------------

/**
 * One li.person[data-nick] per person ({nick, typing}); `self` is marked
 * "(you)". `count` is the room's size, which a `partial` list (a big
 * room's pages, or a search's results) does not reach: then the search
 * box shows, and #roster-note (a status region) says how much is listed.
 */
export function showRoster(people, count, self, { note = '', partial = false } = {}) {
  const items = people.map(({ nick, typing }) => {
    const li = el('li', typing ? 'person typing' : 'person');
    li.dataset.nick = nick;
    const swatch = el('span', 'swatch');
    swatch.style.setProperty('--hue', String(nickHue(nick)));
    swatch.setAttribute('aria-hidden', 'true');
    li.append(swatch, nickSpan(nick));
    if (nick === self) li.append(el('span', 'you', ' (you)'));
    if (typing) li.append(el('span', 'typing-mark', ' typing…'));
    return li;
  });
  $('roster').replaceChildren(...items);
  emptyHere = othersHereText(people.map(({ nick }) => nick), self, partial ? count : undefined);
  const here = $('messages').querySelector(':scope > li.empty-room .empty-here');
  if (here) here.textContent = emptyHere;
  $('count').textContent = String(count);
  $('roster-toggle-count').textContent = String(count);
  $('roster-search-form').hidden = !partial;
  const noted = $('roster-note');
  if (noted.textContent !== note) noted.textContent = note;
}

/**
 * Whether the end of the roster list is in view (or near it), as when it
 * does not fill its box; false while the list is not shown at all (the
 * panel folded away), so that nothing is loaded for nobody.
 */
export function rosterNearEnd() {
  const list = $('roster');
  if (list.clientHeight === 0) return false;
  return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
}

/** The roster may be out of date (the link is down). */
export function markRosterStale(stale) {
  $('roster-panel').classList.toggle('stale', stale);
}

export function showTyping(names) {
  $('typing').textContent = typingText(names);
}

export function isRosterOpen() {
  return document.body.classList.contains('roster-open');
}

/** Opens or closes the roster panel (on narrow screens); toggles without `open`. */
export function toggleRoster(open) {
  const show = open === undefined ? !isRosterOpen() : open;
  document.body.classList.toggle('roster-open', show);
  $('roster-toggle').setAttribute('aria-expanded', String(show));
}

// ---- Room name and unread count ---------------------------------------------

/**
 * The room's name everywhere it shows; on the nickname screen, also why
 * the address's room cannot be joined, if it cannot.
 */
export function showRoom(room) {
  const label = `#${room}`;
  $('room-name').textContent = label;
  $('login-room').textContent = label;
  $('message-input').placeholder = `Message ${label}`;
  document.title = titleText(room, unread, mentioned);
  if (screen === 'login') showRoomAdvice(roomAdvice(room));
}

/**
 * Someone else's message came (`mentions`: naming the reader); counted in
 * the title while the tab is hidden.
 */
export function noteUnread(room, mentions) {
  if (!document.hidden) return;
  unread += 1;
  if (mentions) mentioned += 1;
  showRoom(room);
}

/** The tab is visible again: nothing is unread. */
export function readAll(room) {
  catchUp();
  if (document.hidden || unread === 0) return;
  unread = 0;
  mentioned = 0;
  showRoom(room);
}

// ---- Connection state -------------------------------------------------------

function tickCountdown() {
  const countdown = $('conn-countdown');
  if (!countdown) return;
  countdown.textContent = countdownText(countdownTo, Date.now());
}

/**
 * #conn-state: data-state is the kind, data-attempt the reconnects
 * scheduled since the last welcome; while reconnecting, the seconds left
 * tick after the text.
 */
export function showConnState({ kind, detail, attempt, retryAt }) {
  const status = $('conn-state');
  status.dataset.state = kind;
  status.dataset.attempt = String(attempt);
  status.textContent = connText(kind, detail, navigator.onLine);
  stopCountdown();
  if (kind === 'reconnecting') {
    // The ticking seconds are hidden from assistive technology: the
    // status region announces the state once, not every second.
    const countdown = el('span', '', '');
    countdown.id = 'conn-countdown';
    countdown.setAttribute('aria-hidden', 'true');
    status.append(countdown);
    countdownTo = retryAt;
    tickCountdown();
    countdownTimer = setInterval(tickCountdown, 1000);
  }
  $('reconnect-now').hidden = !(kind === 'reconnecting' || kind === 'offline');
}

export function stopCountdown() {
  clearInterval(countdownTimer);
  countdownTimer = 0;
}

/**
 * #refused: the server refused this page, with its hint (which names the
 * fix). What the user typed stays where it is.
 */
export function showRefused(hint) {
  $('refused-hint').textContent = hint;
  $('refused').hidden = false;
}

/** #conn-state[data-degraded]: the server cannot reach or write its store. */
export function showDegraded(degraded) {
  $('conn-state').dataset.degraded = String(degraded);
}

/** #transport: the transport's name, and in its title why the page fell back. */
export function showTransport(name, why) {
  const shown = $('transport');
  shown.textContent = name || 'none';
  shown.title = why ? `${why}; using long-polling` : '';
}

// ---- Screens ----------------------------------------------------------------

export function isChat() {
  return screen === 'chat';
}

/**
 * The nickname screen, with `error` (the server's reason) and the
 * nickname to correct; `about` 'room' when the reason is the room's (it
 * shows against the room, and the nickname stays valid).
 */
export function showLogin(error, nick, about = 'nick') {
  screen = 'login';
  document.body.dataset.view = 'login';
  document.body.classList.remove('roster-open');
  $('chat-view').hidden = true;
  $('login-view').hidden = false;
  showJoinStatus('');
  const input = $('nick-input');
  if (nick) input.value = nick;
  if (about === 'room') {
    showNickError('');
    showRoomAdvice(error ? { text: error, suggestion: null } : null);
    input.focus();
    return;
  }
  showNickError(error || '');
  input.focus();
  if (error) input.select();
}

export function showNickError(text) {
  $('nick-error').textContent = text;
  $('nick-input').setAttribute('aria-invalid', text ? 'true' : 'false');
}

/**
 * #room-error on the nickname screen: why the room cannot be joined
 * ({text, suggestion} from wording.js's roomAdvice, or null for none),
 * with a link to the suggested room (a#room-suggestion) when there is one.
 * `focus` moves the keyboard to that link (the Join was refused for it).
 */
export function showRoomAdvice(advice, { focus = false } = {}) {
  const line = $('room-error');
  if (!advice) {
    line.replaceChildren();
    return;
  }
  line.replaceChildren(document.createTextNode(advice.text));
  if (advice.suggestion) {
    const link = el('a', '', `Join #${advice.suggestion} instead`);
    link.id = 'room-suggestion';
    link.href = `#${advice.suggestion}`;
    line.append(' ', link);
    if (focus) link.focus();
  }
}

/** #join-status by the Join button: "Waiting for the server…" while the join waits for the link. */
export function showJoinStatus(text) {
  $('join-status').textContent = text;
}

export function showChat() {
  if (screen === 'chat') return;
  showJoinStatus('');
  showRoomAdvice(null);
  screen = 'chat';
  document.body.dataset.view = 'chat';
  $('login-view').hidden = true;
  $('chat-view').hidden = false;
  $('message-input').focus();
}

/** The page as it first appears: the nickname screen. */
export function start({ room, nick, transport, why }) {
  screen = 'login';
  document.body.dataset.view = 'login';
  showTransport(transport, why);
  $('nick-input').value = nick;
  showRoom(room);
}
