/*
 * The HTTP side of long-polling (src/transport/poll/routes.rs): one request and its
 * answer, what an answer that is not a success means (the judge), ending a
 * session, and asking whether the server answers plain HTTP at all.
 *
 * Owns: nothing mutable. The network is the `fetch` each call is handed,
 * so Node tests hand it a fake.
 * Must not touch: the DOM, storage, or any transport's or page's state; it
 * answers questions and the callers decide.
 */

import { CLOSE } from '../protocol.js';

/** The long-polling session token's header. */
export const SESSION_HEADER = 'Parley-Session';

/**
 * One request to the polling endpoints: {status, body, retryAfter}, or
 * null when no answer came (network error, cut off, aborted). `body` is
 * the parsed JSON, or null when the answer was not JSON.
 */
export async function pollRequest(fetch, prefix, method, path, { session, body, signal } = {}) {
  const headers = {};
  if (session) headers[SESSION_HEADER] = session;
  // The body is JSON, but sent as text/plain (the server reads the bytes
  // whatever the type): with no session header either, the opening POST is
  // then a request a browser sends without a preflight, so a page on an
  // origin the server does not list can read the 403 and its hint.
  if (body !== undefined) headers['Content-Type'] = 'text/plain;charset=UTF-8';
  try {
    const response = await fetch(`${prefix}${path}`, {
      method, headers, body, signal, cache: 'no-store', credentials: 'same-origin',
    });
    let json = null;
    try {
      json = await response.json();
    } catch (_) {
      json = null; // a proxy's HTML error page, or an empty body
    }
    return { status: response.status, body: json, retryAfter: response.headers.get('Retry-After') };
  } catch (_) {
    return null;
  }
}

/**
 * What a polling request that did not succeed means: `close` with a code
 * (and `reason`) to end the transport, or a retry, `after` a given delay
 * and `free` when it does not count as a failure. An empty verdict is a
 * retry after the usual backoff that counts as a failure.
 */
export function judgePollAnswer(answer) {
  // No answer, or a proxy's 502/504: cut off on the way; ask again.
  if (!answer) return {};
  const error = (answer.body && answer.body.error) || {};
  const reason = typeof error.message === 'string' ? error.message : `HTTP ${answer.status}`;
  switch (answer.status) {
    case 404:
      // The session expired (or the server restarted): like a dropped
      // connection, the page reconnects and resumes with since/resume.
      if (error.code === 'unknown_session') return { close: CLOSE.EXPIRED, reason };
      return { close: CLOSE.ABNORMAL, reason };
    case 429: {
      const seconds = Number(answer.retryAfter);
      return { after: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000, free: true };
    }
    case 413:
      return { close: CLOSE.TOO_BIG, reason };
    case 403:
      if (error.code === 'origin_not_allowed') {
        return { close: CLOSE.REFUSED, reason: typeof error.hint === 'string' ? error.hint : reason };
      }
      return { close: CLOSE.POLICY, reason };
    case 400:
      return { close: CLOSE.PROTOCOL, reason };
    default:
      return {};
  }
}

/** Ends a session; keepalive lets it leave with a page that is going away. */
export function endPollSession(fetch, prefix, session) {
  try {
    Promise.resolve(fetch(`${prefix}/poll/close`, {
      method: 'POST', headers: { [SESSION_HEADER]: session }, keepalive: true, cache: 'no-store',
    })).catch(() => {});
  } catch (_) { /* nothing to do: the session expires on its own */ }
}

/**
 * What the server says over plain HTTP here, within `timeoutMs`: its
 * probe answers 200 {"status":"ok"} (a success, so a browser logs no
 * failed request for it), or a 403 origin_not_allowed when the server
 * refuses this page (any JSON error of the server's counts as an answer
 * too). {answers, refused}: whether it answered at all, and the refusal's
 * hint (or null). `timers` is {setTimeout, clearTimeout}.
 */
export async function askServer(fetch, prefix, timers, timeoutMs) {
  const abort = new AbortController();
  const timer = timers.setTimeout(() => abort.abort(), timeoutMs);
  const answer = await pollRequest(fetch, prefix, 'GET', '/poll/probe', { signal: abort.signal });
  timers.clearTimeout(timer);
  const body = answer && answer.body;
  const answers = Boolean(body && ((answer.status === 200 && body.status === 'ok')
    || (body.error && typeof body.error.code === 'string')));
  const verdict = answers ? judgePollAnswer(answer) : {};
  return { answers, refused: verdict.close === CLOSE.REFUSED ? verdict.reason : null };
}

/** Whether the server answers HTTP here (see askServer). */
export async function serverAnswers(fetch, prefix, timers, timeoutMs) {
  return (await askServer(fetch, prefix, timers, timeoutMs)).answers;
}
