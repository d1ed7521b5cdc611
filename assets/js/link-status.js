/*
 * What the chat says about its link and what holds it back: #conn-state
 * (data-state, data-attempt, data-degraded) with the reconnect countdown
 * and the "Reconnect now" button, #refused when the server refused this
 * page, #transport with why the page fell back, and #slow-down while the
 * rate limit holds messages back.
 *
 * Owns: the countdown's timer, and the DOM of those elements.
 * Must not touch: the link itself (the client library reconnects; this
 * only draws what it reports), or the message list. The server's hint
 * reaches the DOM only as text.
 */

import { connText, countdownText } from './format.js';
import { byId, el } from './dom.js';
import { slowDownText } from './wording.js';

let countdownTimer = 0;
let countdownTo = 0;

function tickCountdown() {
  const countdown = byId('conn-countdown');
  if (!countdown) return;
  countdown.textContent = countdownText(countdownTo, Date.now());
}

/**
 * #conn-state: data-state is the kind, data-attempt the reconnects
 * scheduled since the last welcome; while reconnecting, the seconds left
 * tick after the text.
 */
export function showConnState({ kind, detail, attempt, retryAt }) {
  const status = byId('conn-state');
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
  byId('reconnect-now').hidden = !(kind === 'reconnecting' || kind === 'offline');
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
  byId('refused-hint').textContent = hint;
  byId('refused').hidden = false;
}

/** #conn-state[data-degraded]: the server cannot reach or write its store. */
export function showDegraded(degraded) {
  byId('conn-state').dataset.degraded = String(degraded);
}

/** #transport: the transport's name, and in its title why the page fell back. */
export function showTransport(name, why) {
  const shown = byId('transport');
  shown.textContent = name || 'none';
  shown.title = why ? `${why}; using long-polling` : '';
}

/**
 * #slow-down: the one line saying how many messages wait for the rate
 * limit, redrawn in place; emptied (and so hidden) at 0. Only its
 * appearance is announced: the line is a status region, and the count is
 * in a span that is not live.
 */
export function showSlowDown(waiting) {
  const line = byId('slow-down');
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
