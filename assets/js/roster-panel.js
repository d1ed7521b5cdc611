/*
 * The roster panel: one li.person[data-nick] per person in #roster (a big
 * room's loaded pages, or a search's results), the count (#count and the
 * toggle's), the search form that shows only for a partial list, the
 * #roster-note status line, the stale mark while the link is down, and
 * its folding on narrow screens. The typing line under the message list
 * (#typing) is drawn here too: it says in words who the roster marks as
 * typing. Who is here also feeds the empty room's greeting
 * (message-list.js's showHere).
 *
 * Owns: the DOM of #roster-panel, #typing and the body's roster-open class.
 * Must not touch: the Roster's state or the paging (roster.js and
 * roster-pager.js decide what is listed; this draws it). User text
 * reaches the DOM only as text.
 */

import { othersHere, nickHue, typing } from './format.js';
import { byId, el, nickSpan, sentenceNodes } from './dom.js';
import { showHere } from './message-list.js';

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
  byId('roster').replaceChildren(...items);
  showHere(othersHere(people.map(({ nick }) => nick), self, partial ? count : undefined));
  byId('count').textContent = String(count);
  byId('roster-toggle-count').textContent = String(count);
  byId('roster-search-form').hidden = !partial;
  const noted = byId('roster-note');
  if (noted.textContent !== note) noted.textContent = note;
}

/**
 * Whether the end of the roster list is in view (or near it), as when it
 * does not fill its box; false while the list is not shown at all (the
 * panel folded away), so that nothing is loaded for nobody.
 */
export function rosterNearEnd() {
  const list = byId('roster');
  if (list.clientHeight === 0) return false;
  return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
}

/** Whether the roster list is on screen (not folded away on a narrow screen). */
export function rosterShown() {
  return byId('roster').clientHeight > 0;
}

/** The roster may be out of date (the link is down). */
export function markRosterStale(stale) {
  byId('roster-panel').classList.toggle('stale', stale);
}

export function showTyping(names) {
  byId('typing').replaceChildren(...sentenceNodes(typing(names)));
}

export function isRosterOpen() {
  return document.body.classList.contains('roster-open');
}

/** Opens or closes the roster panel (on narrow screens); toggles without `open`. */
export function toggleRoster(open) {
  const show = open === undefined ? !isRosterOpen() : open;
  document.body.classList.toggle('roster-open', show);
  byId('roster-toggle').setAttribute('aria-expanded', String(show));
}
