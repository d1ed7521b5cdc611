/*
 * What one item of the message list looks like: a message from the
 * server, one of ours still "sending…", a notice, a date line, and the
 * "New" divider. Links in messages are <a> elements made here from
 * message-parts.js's parts (only http and https, opened in a new tab
 * without opener or referrer); mentions of the reader are
 * <mark class="mention">; message texts carry dir="auto".
 *
 * Owns: nothing; it builds detached items and returns them.
 * Must not touch: the list itself (message-list.js places items), or any
 * state. User text reaches the DOM only as text nodes and textContent.
 */

import { clockTime } from './format.js';
import { el, nickSpan } from './dom.js';
import { messageParts } from './message-parts.js';
import { dayKey, dayLabel } from './timeline.js';

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
      // Isolated, as a name in a sentence is (sentence.js).
      const mark = el('mark', 'mention', part.text);
      mark.dir = 'auto';
      span.append(mark);
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

/**
 * li.message[data-id] (.own when ours); in others' messages, mentions of
 * `me` are marked, and the item is li.mentioned. data-nick and data-ts
 * are what grouping reads.
 */
export function messageItem(m, own, me) {
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

/** A message of ours not yet acknowledged: li.message.pending[data-ref], "sending…". */
export function pendingItem(ref, text, nick) {
  const li = el('li', 'message own pending');
  li.dataset.ref = ref;
  li.append(el('span', 'time', '--:--'), ' ', nickSpan(nick),
    el('span', 'visually-hidden', ': '), textSpan(text, null), el('span', 'status', 'sending…'));
  return li;
}

/** The class of a notice of `kind` ('error' for trouble). */
export function noticeClass(kind) {
  return kind === 'error' ? 'notice error' : 'notice';
}

/** li.day-separator: the date line above a day's first message. */
export function dayLine(ts) {
  const li = el('li', 'day-separator');
  li.dataset.day = dayKey(ts);
  li.dataset.ts = String(ts);
  const label = el('span', 'day-label', dayLabel(ts, Date.now()));
  li.append(label);
  return li;
}

/** Says date line `li` again as of `now` ("Today" becomes "Yesterday" at midnight). */
export function relabelDayLine(li, now) {
  const label = li.querySelector('.day-label');
  const text = dayLabel(Number(li.dataset.ts), now);
  if (label && label.textContent !== text) label.textContent = text;
}

/** li.unread-divider: "New", above the messages that came unseen. */
export function unreadDivider() {
  const line = el('li', 'unread-divider');
  line.setAttribute('aria-hidden', 'true');
  line.append(el('span', 'unread-label', 'New'));
  return line;
}
