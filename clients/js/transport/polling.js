/*
 * The HTTP long-polling transport (src/transport/poll/routes.rs). A session opens
 * with the join frame as the body of POST /poll/open, so this transport
 * "opens" at once and holds no session until the first join is sent
 * through it. Then one GET /poll is outstanding at a time, always with the
 * cursor of the last batch: a poll that is cut off is asked again with the
 * same cursor and the server delivers the same frames, so nothing is lost
 * or doubled. Frames go out through POST /poll/send one request at a time,
 * in order (frames queued meanwhile travel together as an array).
 *
 * Like every transport it carries frames (plain objects) both ways:
 *   connect()             start; later onopen() or onclose(info)
 *   send(frame) -> bool   false when it cannot carry the frame (then dropped)
 *   close()               end it; no onclose follows a close asked for here
 *   handOver()            stop, leaving the session for another tab to resume
 *   onopen(), onframe(frame), onclose({code, reason}), onnotice(text)
 *
 * A proxy that ends idle requests sooner than the server's long-poll wait
 * (a 502/504 or a dropped request, twice after about the same time) is
 * met by asking for shorter waits (`wait=` on the poll) and said once
 * through onnotice, with the fix.
 *
 * Owns: its session token, cursor, outbox of frames not yet taken by the
 * server, and its poll and send loops.
 * Must not touch: the DOM, storage, or anything of the page's; it learns
 * nothing but what its callbacks say. The network and the clock come in
 * through `io` ({fetch, setTimeout, clearTimeout, now}), so Node tests can
 * drive it with a fake fetch and fake timers.
 */

import { CLOSE, encodeFrame, isFrame } from '../protocol.js';
import { pollRetryDelay } from '../backoff.js';
import { endPollSession, judgePollAnswer, pollRequest } from './poll-http.js';

/**
 * Polls start at most this often: the server's sustained rate is 5 polls
 * a second, so a busy room gets its frames in batches rather than 429s.
 */
export const POLL_SPACING_MS = 200;
/**
 * A poll still unanswered after this long is presumed cut off and asked
 * again. The server answers within --poll-wait-secs (25 s by default).
 */
export const POLL_ABORT_MS = 60000;
/** Failed polling requests retried in a row before the link counts as dropped. */
export const POLL_RETRIES = 3;
/** Most frames one /poll/send may carry (MAX_FRAMES_PER_SEND in src/transport/poll/routes.rs). */
export const MAX_FRAMES_PER_SEND = 32;
/** Bytes per /poll/send until a welcome announces the server's max_frame_bytes. */
export const POLL_SEND_BUDGET = 4096;

/**
 * A poll cut off after at least this long without an answer may be a
 * proxy's idle timeout rather than a broken link.
 */
export const IDLE_CUT_MIN_MS = 1000;

/**
 * Two polls cut off after waiting `a` and `b` ms look like one proxy's
 * idle timeout when both waited at least IDLE_CUT_MIN_MS and within a
 * fifth of each other. Returns the wait to ask for then, in whole
 * seconds (half the cut, at least 1), or 0 when they do not.
 */
export function idleCutWait(a, b) {
  if (a < IDLE_CUT_MIN_MS || b < IDLE_CUT_MIN_MS) return 0;
  if (Math.abs(a - b) > Math.max(a, b) / 5) return 0;
  return Math.max(1, Math.floor(Math.min(a, b) / 2000));
}

/** What the page says when a proxy's idle timeout has been met. */
export function idleCutNotice(ms) {
  const seconds = Math.round(ms / 1000);
  return `A proxy between you and the server ends waiting requests after about ${seconds} s, `
    + 'sooner than the server answers them, so the chat now asks more often. '
    + 'To fix it, raise that proxy\'s read timeout to 60 s or more (nginx: proxy_read_timeout; '
    + 'Apache: ProxyTimeout; IIS ARR: the proxy time-out); the connection check (link below) shows it.';
}

/** Measures bodies in bytes, as the server's limit counts them. */
const utf8 = new TextEncoder();

/**
 * The body of the next /poll/send: as many frames from the front of
 * `frames` as fit in `budget` bytes and MAX_FRAMES_PER_SEND (always at
 * least one), a lone frame as itself and several as an array. Returns
 * {body, count}.
 */
export function packFrames(frames, budget) {
  const bodies = [];
  let size = 2;
  for (const frame of frames) {
    const body = encodeFrame(frame);
    size += utf8.encode(body).length + 1;
    if (bodies.length > 0 && (bodies.length >= MAX_FRAMES_PER_SEND || size > budget)) break;
    bodies.push(body);
  }
  return { body: bodies.length === 1 ? bodies[0] : `[${bodies.join(',')}]`, count: bodies.length };
}

/** The browser's own network and clock, wrapped so they may be called detached. */
const BROWSER_IO = {
  fetch: (url, init) => fetch(url, init),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => Date.now(),
};

export class PollingTransport {
  constructor(prefix, io = {}) {
    this.prefix = prefix;
    this.io = { ...BROWSER_IO, ...io };
    /** idle (no session yet), opening, polling, closed. */
    this.phase = 'idle';
    this.session = null;
    this.cursor = 0;
    /** Frames accepted by send() and not yet taken by the server, in order. */
    this.outbox = [];
    this.sending = false;
    this.pollAbort = null;
    /** Largest body a send may carry; from the welcome's limits. */
    this.sendBudget = POLL_SEND_BUDGET;
    /** The wait to ask the server for, in seconds; 0 for the server's own. */
    this.waitSecs = 0;
    /** How long the last poll cut off without an answer had waited, in ms. */
    this.lastCutMs = 0;
    this.onopen = () => {};
    this.onnotice = () => {};
    this.onframe = () => {};
    this.onclose = () => {};
  }

  connect() {
    this.io.setTimeout(() => { if (this.phase === 'idle') this.onopen(); }, 0);
  }

  send(frame) {
    if (this.phase === 'idle') {
      if (frame.type === 'join') {
        this.open(frame);
        return true;
      }
      // Before the join there is no session, so no link a ping could
      // probe: the heartbeat's ping is answered here.
      if (frame.type === 'ping') {
        this.io.setTimeout(() => { if (this.phase === 'idle') this.onframe({ type: 'pong' }); }, 0);
        return true;
      }
      return false;
    }
    if (this.phase === 'closed') return false;
    this.outbox.push(frame);
    this.flush();
    return true;
  }

  close() {
    const session = this.session;
    this.stop();
    // A session still opening is ended when its token arrives (open()).
    if (session) endPollSession(this.io.fetch, this.prefix, session);
  }

  /**
   * Stops without ending the session: another tab resumes the member with
   * its token, taking the session's place (PROTOCOL.md 7.4), and the
   * server forgets the session once it is no longer polled.
   */
  handOver() {
    this.stop();
  }

  /** Stops every loop; no callback fires after this. */
  stop() {
    this.phase = 'closed';
    this.outbox = [];
    if (this.pollAbort) this.pollAbort.abort();
  }

  /**
   * Ends the transport from its side and tells the page why. A session
   * the server may still hold is ended too, as a dropped WebSocket would
   * be, so the user does not linger in the room until it expires.
   */
  fail(code, reason) {
    if (this.phase === 'closed') return;
    const session = this.session;
    this.stop();
    if (session && code !== CLOSE.EXPIRED) endPollSession(this.io.fetch, this.prefix, session);
    this.onclose({ code, reason: reason || '' });
  }

  /** One request to the polling endpoints (see pollRequest). */
  request(method, path, options) {
    return pollRequest(this.io.fetch, this.prefix, method, path, options);
  }

  // Loops sleep only when they must: a background tab's timers are slowed.
  sleep(ms) {
    return new Promise((resolve) => { this.io.setTimeout(resolve, ms); });
  }

  async open(join) {
    this.phase = 'opening';
    const answer = await this.request('POST', '/poll/open', { body: encodeFrame(join) });
    const opened = answer && answer.status === 200 && answer.body && typeof answer.body.session === 'string';
    if (this.phase === 'closed') {
      if (opened) endPollSession(this.io.fetch, this.prefix, answer.body.session);
      return;
    }
    if (!opened) {
      const verdict = judgePollAnswer(answer);
      // Opening is the page's reconnect, with its own backoff: no retry here.
      this.fail(verdict.close || (answer && answer.status === 429 ? CLOSE.TRY_LATER : CLOSE.ABNORMAL), verdict.reason);
      return;
    }
    this.session = answer.body.session;
    this.phase = 'polling';
    this.take(answer.body);
    this.flush();
    this.pollLoop();
  }

  async pollLoop() {
    let failures = 0;
    let startedAt = 0;
    while (this.phase === 'polling') {
      const spacing = startedAt + POLL_SPACING_MS - this.io.now();
      if (spacing > 0) await this.sleep(spacing);
      if (this.phase !== 'polling') return;
      startedAt = this.io.now();
      const abort = new AbortController();
      this.pollAbort = abort;
      const timer = this.io.setTimeout(() => abort.abort(), POLL_ABORT_MS);
      const wait = this.waitSecs > 0 ? `&wait=${this.waitSecs}` : '';
      const answer = await this.request('GET', `/poll?cursor=${this.cursor}${wait}`, {
        session: this.session,
        signal: abort.signal,
      });
      this.io.clearTimeout(timer);
      this.pollAbort = null;
      if (this.phase !== 'polling') return;
      if (answer && answer.status === 200 && answer.body && Array.isArray(answer.body.frames)) {
        failures = 0;
        this.take(answer.body);
        continue;
      }
      const verdict = judgePollAnswer(answer);
      if (verdict.close) {
        this.fail(verdict.close, verdict.reason);
        return;
      }
      if (this.metIdleCut(answer, this.io.now() - startedAt)) {
        failures = 0;
        continue;
      }
      const next = this.nextTry(verdict, failures);
      if (!next) return;
      failures = next.failures;
      if (next.delay > 0) await this.sleep(next.delay);
    }
  }

  /**
   * A polling request failed (`verdict`, from judgePollAnswer) after
   * `failures` failures in a row: {failures, delay}, the count with this
   * one (a failure the verdict calls free does not count) and the wait
   * before trying again; or null when too many failed in a row, and the
   * transport has ended.
   */
  nextTry(verdict, failures) {
    const count = verdict.free ? failures : failures + 1;
    if (count > POLL_RETRIES) {
      this.fail(CLOSE.ABNORMAL, 'the server stopped answering');
      return null;
    }
    return { failures: count, delay: verdict.after !== undefined ? verdict.after : pollRetryDelay(count) };
  }

  /**
   * Whether a poll that ended without an answer (`answer`, after `waited`
   * ms) was the second cut of a proxy's idle timeout; if so, polls ask for
   * shorter waits from now on and the page is told once.
   */
  metIdleCut(answer, waited) {
    const cut = !answer || answer.status === 502 || answer.status === 504;
    if (!cut || waited >= POLL_ABORT_MS) return false;
    const previous = this.lastCutMs;
    this.lastCutMs = waited;
    const wait = idleCutWait(previous, waited);
    if (wait === 0 || (this.waitSecs > 0 && wait >= this.waitSecs)) return false;
    const first = this.waitSecs === 0;
    this.waitSecs = wait;
    this.lastCutMs = 0;
    if (first) this.onnotice(idleCutNotice(waited));
    return true;
  }

  /** Hands a batch's frames to the page; a `closed` ends the transport. */
  take(batch) {
    if (Number.isSafeInteger(batch.cursor)) this.cursor = batch.cursor;
    for (const frame of Array.isArray(batch.frames) ? batch.frames : []) {
      if (this.phase === 'closed') return;
      if (!isFrame(frame)) continue;
      if (frame.type === 'welcome' && frame.limits && Number.isSafeInteger(frame.limits.max_frame_bytes)) {
        this.sendBudget = frame.limits.max_frame_bytes;
      }
      this.onframe(frame);
    }
    if (batch.closed && typeof batch.closed.code === 'number') {
      // The server has ended the session already: nothing to close.
      this.session = null;
      this.fail(batch.closed.code, batch.closed.reason);
    }
  }

  /** Sends the outbox, one request at a time, until it is empty. */
  async flush() {
    if (this.sending || this.phase !== 'polling') return;
    this.sending = true;
    let failures = 0;
    while (this.phase === 'polling' && this.outbox.length > 0) {
      const { body, count } = packFrames(this.outbox, this.sendBudget);
      const answer = await this.request('POST', '/poll/send', { session: this.session, body });
      if (this.phase !== 'polling') break;
      if (answer && answer.status === 200) {
        failures = 0;
        this.outbox.splice(0, count);
        continue;
      }
      if (answer && answer.status === 413 && count > 1) {
        // Together they were too large: from now on one frame per request.
        this.sendBudget = 0;
        continue;
      }
      const verdict = judgePollAnswer(answer);
      if (verdict.close) {
        this.fail(verdict.close, verdict.reason);
        break;
      }
      // A resend is safe: a `say` carries its ref, which the server
      // recognises, and the other frames are idempotent.
      const next = this.nextTry(verdict, failures);
      if (!next) break;
      failures = next.failures;
      if (next.delay > 0) await this.sleep(next.delay);
    }
    this.sending = false;
  }
}
