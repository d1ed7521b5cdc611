/*
 * Parley's browser client. This file owns everything the chat page does once
 * loaded: choosing a transport (WebSocket first, HTTP long-polling when
 * WebSocket cannot get through) and keeping it connected (reconnecting with
 * backoff and resuming where it left off), speaking the JSON frames of
 * src/protocol.rs, and drawing the nickname screen, the message list, the
 * roster and the typing line. It keeps no state beyond the page's life except
 * the last nickname (localStorage) and, for the tab, a fallback to
 * long-polling (sessionStorage); it never inserts user data as HTML: every
 * nickname and message text reaches the DOM through textContent.
 * The markup it drives is templates/index.html; the looks are chat.css.
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
 *                             notices are li.notice
 *   #roster                   one li.person[data-nick] per participant
 *   #count                    the number of participants, digits only
 *   #typing                   "ann is typing…" (empty when nobody types)
 *   #conn-state               connection state text; data-state is one of
 *                             idle, connecting, connected, reconnecting, offline;
 *                             data-degraded is "true" while the server reports
 *                             that it cannot reach its other instances;
 *                             data-attempt counts reconnects scheduled since the
 *                             last welcome (or the switch to long-polling)
 *   #transport                the transport in use: "websocket" or "polling"
 *                             (its title says why when the page fell back)
 *   #room-name                "#room"
 */
'use strict';

(() => {
  // ---- Tunables ------------------------------------------------------------

  const PROTOCOL_VERSION = 1;
  const DEFAULT_ROOM = 'lobby';
  /** First reconnect delay ceiling; doubles per failed attempt up to the max. */
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  /** Typing is reported off after this long without a keystroke. */
  const TYPING_IDLE_MS = 3000;
  /** A link quiet this long is probed with a ping... */
  const PING_AFTER_MS = 25000;
  /** ...and dropped (then reconnected) if nothing answers within this. */
  const PONG_TIMEOUT_MS = 10000;
  const HEARTBEAT_CHECK_MS = 5000;
  /** Rendered list items kept; older ones are removed so memory stays flat. */
  const MAX_RENDERED = 1000;
  /** The character counter appears past this share of the limit. */
  const COUNTER_FROM = 0.9;
  /** WebSocket close codes; the polling transport reports its ends in them too. */
  const CLOSE_PROTOCOL = 1002;
  const CLOSE_ABNORMAL = 1006;
  const CLOSE_POLICY = 1008;
  const CLOSE_TOO_BIG = 1009;
  const CLOSE_TRY_LATER = 1013;
  const CLOSE_REPLACED = 4001;
  const CLOSE_EXPIRED = 4002;
  /** A WebSocket that has not opened after this long counts as failed. */
  const WS_OPEN_TIMEOUT_MS = 4000;
  /**
   * Once WebSocket has worked in this tab, this many attempts in a row that
   * never open hand over to long-polling. Before it has worked, the first
   * failure does.
   */
  const WS_FAILURES_BEFORE_FALLBACK = 3;
  /** The long-polling session token's header. */
  const SESSION_HEADER = 'Parley-Session';
  /**
   * Polls start at most this often: the server's sustained rate is 5 polls
   * a second, so a busy room gets its frames in batches rather than 429s.
   */
  const POLL_SPACING_MS = 200;
  /**
   * A poll still unanswered after this long is presumed cut off and asked
   * again. The server answers within --poll-wait-secs (25 s by default).
   */
  const POLL_ABORT_MS = 60000;
  /** Failed polling requests retried in a row before the link counts as dropped. */
  const POLL_RETRIES = 3;
  /** Delay before the second retry; doubles for each one after it. */
  const POLL_RETRY_MS = 500;
  /** Most frames one /poll/send may carry (MAX_FRAMES_PER_SEND in src/poll_routes.rs). */
  const MAX_FRAMES_PER_SEND = 32;
  /** Bytes per /poll/send until a welcome announces the server's max_frame_bytes. */
  const POLL_SEND_BUDGET = 4096;
  /** Errors that answer a join (and then no welcome follows). */
  const JOIN_ERRORS = new Set([
    'invalid_nick', 'nick_taken', 'invalid_room', 'too_many_rooms', 'room_full', 'unsupported_version',
  ]);

  const $ = (id) => document.getElementById(id);
  const page = document.body;
  const base = page.dataset.base || '';

  // ---- Transports ----------------------------------------------------------
  //
  // A transport carries protocol frames (plain objects) both ways:
  //   connect()             start; later onopen() or onclose(info)
  //   send(frame) -> bool   false when it cannot carry the frame (then dropped)
  //   close()               end it; no onclose follows a close asked for here
  //   onopen(), onframe(frame), onclose({code, reason})
  // Close codes are WebSocket's, whatever the transport: the connection code
  // below reacts to 4001 (replaced: stop) and 1009 (too big) and reconnects
  // on anything else. Nothing outside this section and the choice of
  // transport knows which one runs.

  class WebSocketTransport {
    constructor(url) {
      this.url = url;
      this.ws = null;
      this.onopen = () => {};
      this.onframe = () => {};
      this.onclose = () => {};
    }

    connect() {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => this.onopen();
      ws.onmessage = (event) => {
        if (typeof event.data !== 'string') return;
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        if (frame && typeof frame.type === 'string') this.onframe(frame);
      };
      ws.onclose = (event) => {
        this.ws = null;
        this.onclose({ code: event.code, reason: event.reason });
      };
    }

    send(frame) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    }

    close() {
      const ws = this.ws;
      this.ws = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        ws.close(1000);
      }
    }
  }

  function webSocketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}${base}/ws`;
  }

  /**
   * HTTP long-polling (src/poll_routes.rs). A session opens with the join
   * frame as the body of POST /poll/open, so this transport "opens" at once
   * and holds no session until the first join is sent through it. Then one
   * GET /poll is outstanding at a time, always with the cursor of the last
   * batch: a poll that is cut off is asked again with the same cursor and
   * the server delivers the same frames, so nothing is lost or doubled.
   * Frames go out through POST /poll/send one request at a time, in order
   * (frames queued meanwhile travel together as an array).
   */
  class PollingTransport {
    constructor(prefix) {
      this.prefix = prefix;
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
      this.onopen = () => {};
      this.onframe = () => {};
      this.onclose = () => {};
    }

    connect() {
      setTimeout(() => { if (this.phase === 'idle') this.onopen(); }, 0);
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
          setTimeout(() => { if (this.phase === 'idle') this.onframe({ type: 'pong' }); }, 0);
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
      if (session) endPollSession(this.prefix, session);
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
      if (session && code !== CLOSE_EXPIRED) endPollSession(this.prefix, session);
      this.onclose({ code, reason: reason || '' });
    }

    async open(join) {
      this.phase = 'opening';
      const answer = await pollRequest(this.prefix, 'POST', '/poll/open', { body: JSON.stringify(join) });
      const opened = answer && answer.status === 200 && answer.body && typeof answer.body.session === 'string';
      if (this.phase === 'closed') {
        if (opened) endPollSession(this.prefix, answer.body.session);
        return;
      }
      if (!opened) {
        const verdict = judgePollAnswer(answer);
        // Opening is the page's reconnect, with its own backoff: no retry here.
        this.fail(verdict.close || (answer && answer.status === 429 ? CLOSE_TRY_LATER : CLOSE_ABNORMAL), verdict.reason);
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
        const spacing = startedAt + POLL_SPACING_MS - Date.now();
        if (spacing > 0) await sleep(spacing);
        if (this.phase !== 'polling') return;
        startedAt = Date.now();
        const abort = new AbortController();
        this.pollAbort = abort;
        const timer = setTimeout(() => abort.abort(), POLL_ABORT_MS);
        const answer = await pollRequest(this.prefix, 'GET', `/poll?cursor=${this.cursor}`, {
          session: this.session,
          signal: abort.signal,
        });
        clearTimeout(timer);
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
        if (!verdict.free) failures += 1;
        if (failures > POLL_RETRIES) {
          this.fail(CLOSE_ABNORMAL, 'the server stopped answering');
          return;
        }
        const delay = verdict.after !== undefined ? verdict.after : retryDelay(failures);
        if (delay > 0) await sleep(delay);
      }
    }

    /** Hands a batch's frames to the page; a `closed` ends the transport. */
    take(batch) {
      if (Number.isSafeInteger(batch.cursor)) this.cursor = batch.cursor;
      for (const frame of Array.isArray(batch.frames) ? batch.frames : []) {
        if (this.phase === 'closed') return;
        if (!frame || typeof frame.type !== 'string') continue;
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
        const bodies = [];
        let size = 2;
        for (const frame of this.outbox) {
          const body = JSON.stringify(frame);
          size += utf8.encode(body).length + 1;
          if (bodies.length > 0 && (bodies.length >= MAX_FRAMES_PER_SEND || size > this.sendBudget)) break;
          bodies.push(body);
        }
        const body = bodies.length === 1 ? bodies[0] : `[${bodies.join(',')}]`;
        const answer = await pollRequest(this.prefix, 'POST', '/poll/send', { session: this.session, body });
        if (this.phase !== 'polling') break;
        if (answer && answer.status === 200) {
          failures = 0;
          this.outbox.splice(0, bodies.length);
          continue;
        }
        if (answer && answer.status === 413 && bodies.length > 1) {
          // Together they were too large: from now on one frame per request.
          this.sendBudget = 0;
          continue;
        }
        const verdict = judgePollAnswer(answer);
        if (verdict.close) {
          this.fail(verdict.close, verdict.reason);
          break;
        }
        if (!verdict.free) failures += 1;
        if (failures > POLL_RETRIES) {
          this.fail(CLOSE_ABNORMAL, 'the server stopped answering');
          break;
        }
        // A resend is safe: a `say` carries its ref, which the server
        // recognises, and the other frames are idempotent.
        const delay = verdict.after !== undefined ? verdict.after : retryDelay(failures);
        if (delay > 0) await sleep(delay);
      }
      this.sending = false;
    }
  }

  /** Measures bodies in bytes, as the server's limit counts them. */
  const utf8 = new TextEncoder();

  // Loops sleep only when they must: a background tab's timers are slowed.
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

  /** No wait before the first retry (a cut-off poll is simply repeated), then doubling. */
  const retryDelay = (failures) => (failures <= 1 ? 0 : POLL_RETRY_MS * 2 ** (failures - 2));

  /**
   * One request to the polling endpoints: {status, body, retryAfter}, or
   * null when no answer came (network error, cut off, aborted).
   */
  async function pollRequest(prefix, method, path, { session, body, signal } = {}) {
    const headers = {};
    if (session) headers[SESSION_HEADER] = session;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
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
   * and `free` when it does not count as a failure.
   */
  function judgePollAnswer(answer) {
    // No answer, or a proxy's 502/504: cut off on the way; ask again.
    if (!answer) return {};
    const error = (answer.body && answer.body.error) || {};
    const reason = typeof error.message === 'string' ? error.message : `HTTP ${answer.status}`;
    switch (answer.status) {
      case 404:
        // The session expired (or the server restarted): like a dropped
        // connection, the page reconnects and resumes with since/resume.
        if (error.code === 'unknown_session') return { close: CLOSE_EXPIRED, reason };
        return { close: CLOSE_ABNORMAL, reason };
      case 429: {
        const seconds = Number(answer.retryAfter);
        return { after: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000, free: true };
      }
      case 413:
        return { close: CLOSE_TOO_BIG, reason };
      case 403:
        return { close: CLOSE_POLICY, reason };
      case 400:
        return { close: CLOSE_PROTOCOL, reason };
      default:
        return {};
    }
  }

  /** Ends a session; keepalive lets it leave with a page that is going away. */
  function endPollSession(prefix, session) {
    fetch(`${prefix}/poll/close`, {
      method: 'POST', headers: { [SESSION_HEADER]: session }, keepalive: true, cache: 'no-store',
    }).catch(() => {});
  }

  /** Implemented transports by the name the server announces. */
  const TRANSPORTS = {
    websocket: () => new WebSocketTransport(webSocketUrl()),
    polling: () => new PollingTransport(base),
  };

  /** What the server offers (body[data-transports]) and this file implements, preferred first. */
  const OFFERED = (page.dataset.transports || 'websocket')
    .split(',').map((name) => name.trim()).filter((name) => Object.hasOwn(TRANSPORTS, name));

  /** ?transport=NAME, when the server offers it: no fallback then. */
  const FORCED = (() => {
    const asked = new URLSearchParams(location.search).get('transport');
    return asked && OFFERED.includes(asked) ? asked : null;
  })();

  /** The fallback is remembered per tab and per mount point. */
  const TRANSPORT_KEY = `parley.transport:${base}`;

  function rememberedTransport() {
    try {
      const name = sessionStorage.getItem(TRANSPORT_KEY);
      return name && OFFERED.includes(name) ? name : null;
    } catch (_) {
      return null;
    }
  }

  function rememberTransport(name) {
    try {
      sessionStorage.setItem(TRANSPORT_KEY, name);
    } catch (_) { /* storage may be disabled; the tab then retries WebSocket next load */ }
  }

  // ---- State ---------------------------------------------------------------

  const state = {
    view: 'login',
    /** The nickname to join with: from the form, then as the server registered it. */
    wantedNick: '',
    /** Our nickname in the room (from the last welcome or rename). */
    nick: null,
    /** The room we are in or are joining. */
    room: roomFromUrl(),
    /** The room whose messages the list shows; lastId counts in it. */
    shownRoom: null,
    /** Highest message id shown: anything at or below it is a duplicate. */
    lastId: 0,
    /** The server has us in a room on the current connection. */
    joined: false,
    /** The user asked to be in a room: (re)join whenever a link opens. */
    wantJoin: false,
    /** A join was sent and neither its welcome nor its error has come. */
    awaitingWelcome: false,
    joinKind: 'first',
    joinSince: undefined,
    /** Resume token from the last welcome. */
    session: null,
    limits: null,
    /** nick -> {typing}, in join order. */
    roster: new Map(),
    count: 0,
    /** ref -> {ref, text, room, li}, in the order written. */
    pending: new Map(),
    refCounter: 0,
    /** The ref of the `say` awaiting its ack (one at a time; see pump). */
    inFlight: null,
    /** No `say` before this time (the server asked us to slow down). */
    holdUntil: 0,
    holdTimer: 0,
    typingOn: false,
    typingTimer: 0,
    unread: 0,
  };

  const conn = {
    /** The transport to connect with; null when the server offers none this page speaks. */
    name: FORCED || rememberedTransport() || OFFERED[0] || null,
    /** Why the page is on long-polling without being asked to (shown as a tooltip). */
    why: !FORCED && rememberedTransport() === 'polling' ? 'WebSocket failed earlier in this tab' : '',
    /** A WebSocket has opened in this tab. */
    wsWorked: false,
    /** WebSocket attempts in a row that never opened while the server answered HTTP. */
    wsFailures: 0,
    openTimer: 0,
    transport: null,
    open: false,
    /** No reconnecting (replaced by another window, or the page is going away). */
    stopped: false,
    attempt: 0,
    retryTimer: 0,
    retryAt: 0,
    countdownTimer: 0,
    heartbeat: 0,
    lastHeard: 0,
    pingSentAt: 0,
  };

  function roomFromUrl() {
    let hash = '';
    try {
      hash = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
    } catch (_) {
      hash = '';
    }
    if (hash) return hash.toLowerCase();
    const asked = (new URLSearchParams(location.search).get('room') || '').trim();
    return asked ? asked.toLowerCase() : DEFAULT_ROOM;
  }

  // ---- Connection ----------------------------------------------------------

  function connect() {
    clearTimeout(conn.retryTimer);
    clearInterval(conn.countdownTimer);
    if (conn.transport) return;
    if (!conn.name) {
      setConnState('offline', 'no transport this page speaks');
      return;
    }
    const name = conn.name;
    const transport = TRANSPORTS[name]();
    conn.transport = transport;
    conn.open = false;
    setConnState('connecting');
    let opened = false;
    // Callbacks of a transport that has since been replaced are ignored.
    const current = () => transport === conn.transport;
    transport.onopen = () => {
      if (!current()) return;
      opened = true;
      clearTimeout(conn.openTimer);
      if (name === 'websocket') {
        conn.wsWorked = true;
        conn.wsFailures = 0;
      }
      onOpen();
    };
    transport.onframe = (frame) => { if (current()) onFrame(frame); };
    transport.onclose = (info) => {
      if (!current()) return;
      clearTimeout(conn.openTimer);
      if (!opened) noteFailedOpen(name);
      onClose(info);
    };
    transport.connect();
    clearTimeout(conn.openTimer);
    if (name === 'websocket' && canFallBack()) {
      // A proxy may hold an upgrade it does not understand rather than refuse it.
      conn.openTimer = setTimeout(() => {
        if (!current() || opened) return;
        transport.close();
        noteFailedOpen(name);
        onClose({ code: CLOSE_ABNORMAL, reason: 'no answer to the upgrade' });
      }, WS_OPEN_TIMEOUT_MS);
    }
  }

  function canFallBack() {
    return conn.name === 'websocket' && FORCED === null && OFFERED.includes('polling');
  }

  /**
   * A transport closed without ever opening. For WebSocket that may mean a
   * proxy or firewall in the way: hand over to long-polling, for good in
   * this tab (resuming with since/resume on the new transport loses
   * nothing). Only failures of WebSocket itself count: when the server does
   * not answer plain HTTP either it is down or restarting, polling would
   * fail as well, and giving up WebSocket over a restart would be wrong.
   */
  function noteFailedOpen(name) {
    if (name !== 'websocket' || !canFallBack()) return;
    serverAnswers().then((answers) => {
      if (!answers || !canFallBack() || conn.open) return;
      conn.wsFailures += 1;
      if (conn.wsWorked && conn.wsFailures < WS_FAILURES_BEFORE_FALLBACK) return;
      fallBack();
    });
  }

  /** Whether the server answers HTTP here: a poll without a session gets its JSON 404. */
  async function serverAnswers() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), WS_OPEN_TIMEOUT_MS);
    const answer = await pollRequest(base, 'GET', '/poll?cursor=0', { signal: abort.signal });
    clearTimeout(timer);
    return Boolean(answer && answer.body && answer.body.error && typeof answer.body.error.code === 'string');
  }

  function fallBack() {
    conn.why = conn.wsWorked
      ? `WebSocket failed ${conn.wsFailures} times in a row`
      : 'WebSocket could not connect';
    conn.name = 'polling';
    conn.attempt = 0;
    rememberTransport('polling');
    showTransport();
    if (conn.wsWorked) notice('WebSocket keeps failing here; switching to long-polling.');
    if (conn.stopped) return;
    // A WebSocket attempt begun meanwhile has not opened (or conn.open
    // would have stopped us): drop it and poll at once, without backoff.
    if (conn.transport) {
      clearTimeout(conn.openTimer);
      conn.transport.close();
      conn.transport = null;
    }
    connect();
  }

  function showTransport() {
    const shown = $('transport');
    shown.textContent = conn.name || 'none';
    shown.title = conn.why ? `${conn.why}; using long-polling` : '';
  }

  function send(frame) {
    return conn.open && conn.transport !== null && conn.transport.send(frame);
  }

  function onOpen() {
    conn.open = true;
    conn.lastHeard = Date.now();
    conn.pingSentAt = 0;
    startHeartbeat();
    setConnState('connected');
    if (state.wantJoin) sendJoin();
  }

  function onClose({ code }) {
    conn.transport = null;
    conn.open = false;
    stopHeartbeat();
    const wasJoined = state.joined;
    state.joined = false;
    state.awaitingWelcome = false;
    const inFlight = state.pending.get(state.inFlight);
    state.inFlight = null;
    state.typingOn = false;
    clearTimeout(state.typingTimer);
    for (const info of state.roster.values()) info.typing = false;
    renderTyping();
    $('roster-panel').classList.add('stale');
    // Resending the frame that was too large would only repeat this.
    if (code === CLOSE_TOO_BIG && inFlight) failPending(inFlight, 'too large to send');
    if (code === CLOSE_REPLACED) {
      conn.stopped = true;
      notice('This chat was opened in another window, so this one stopped.', 'error');
      setConnState('offline', 'opened elsewhere');
      return;
    }
    if (wasJoined) notice('Connection lost; reconnecting…');
    if (conn.stopped) {
      setConnState('offline');
      return;
    }
    scheduleReconnect();
  }

  /** Equal jitter: half the ceiling plus a random share of the other half. */
  function scheduleReconnect() {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** conn.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    conn.attempt += 1;
    conn.retryAt = Date.now() + delay;
    clearTimeout(conn.retryTimer);
    clearInterval(conn.countdownTimer);
    conn.retryTimer = setTimeout(connect, delay);
    conn.countdownTimer = setInterval(tickCountdown, 1000);
    setConnState('reconnecting');
  }

  /** Gives up on the current link (it stopped answering) and reconnects. */
  function dropLink() {
    if (!conn.transport) return;
    clearTimeout(conn.openTimer);
    conn.transport.close();
    onClose({ code: CLOSE_ABNORMAL });
  }

  function reconnectNow() {
    conn.stopped = false;
    if (!conn.transport) connect();
  }

  function startHeartbeat() {
    stopHeartbeat();
    // Compares timestamps rather than counting ticks, so throttled timers in
    // a background tab cannot make a live link look dead.
    conn.heartbeat = setInterval(() => {
      const now = Date.now();
      const probing = conn.pingSentAt !== 0 && conn.lastHeard < conn.pingSentAt;
      if (probing) {
        if (now - conn.pingSentAt > PONG_TIMEOUT_MS) dropLink();
      } else if (now - conn.lastHeard > PING_AFTER_MS) {
        conn.pingSentAt = now;
        send({ type: 'ping' });
      }
    }, HEARTBEAT_CHECK_MS);
  }

  function stopHeartbeat() {
    clearInterval(conn.heartbeat);
    conn.heartbeat = 0;
  }

  const CONN_TEXT = {
    idle: () => 'Not connected',
    connecting: () => 'Connecting…',
    connected: () => 'Connected',
    reconnecting: () => (navigator.onLine === false ? 'Offline; reconnecting' : 'Reconnecting'),
    offline: (detail) => (detail ? `Offline (${detail})` : 'Offline'),
  };

  function setConnState(kind, detail) {
    const status = $('conn-state');
    status.dataset.state = kind;
    status.dataset.attempt = String(conn.attempt);
    status.textContent = CONN_TEXT[kind](detail);
    if (kind === 'reconnecting') {
      // The ticking seconds are hidden from assistive technology: the
      // status region announces the state once, not every second.
      const countdown = el('span', '', '');
      countdown.id = 'conn-countdown';
      countdown.setAttribute('aria-hidden', 'true');
      status.append(countdown);
      tickCountdown();
    }
    $('reconnect-now').hidden = !(kind === 'reconnecting' || kind === 'offline');
  }

  function tickCountdown() {
    const countdown = $('conn-countdown');
    if (!countdown) return;
    const seconds = Math.ceil((conn.retryAt - Date.now()) / 1000);
    countdown.textContent = seconds > 0 ? ` in ${seconds} s…` : '…';
  }

  // ---- Frames from the server ----------------------------------------------

  const HANDLERS = {
    welcome: onWelcome,
    message: (frame) => { onMessage(frame); scrollIfFollowing(); },
    ack: onAck,
    joined: onJoined,
    presence: onPresence,
    left: onLeft,
    renamed: onRenamed,
    typing: onTyping,
    left_room: onLeftRoom,
    pong: () => {},
    status: onStatus,
    error: onError,
  };

  function onFrame(frame) {
    conn.lastHeard = Date.now();
    // Unknown types are ignored: a newer server may send more.
    if (Object.hasOwn(HANDLERS, frame.type)) HANDLERS[frame.type](frame);
  }

  /** Whether the user wants a room the server does not have them in. */
  function needsJoin() {
    return state.wantJoin && (!state.joined || state.room !== state.shownRoom);
  }

  function sendJoin() {
    const frame = { type: 'join', v: PROTOCOL_VERSION, nick: state.wantedNick, room: state.room };
    if (state.shownRoom === null) state.joinKind = 'first';
    else if (state.shownRoom === state.room) state.joinKind = 'rejoin';
    else state.joinKind = 'switch';
    if (state.joinKind === 'rejoin') {
      frame.since = state.lastId;
      // Names the numbering `since` belongs to; a restarted room ignores it.
      if (state.epoch) frame.epoch = state.epoch;
    }
    if (state.session) frame.resume = state.session;
    state.joinSince = frame.since;
    state.awaitingWelcome = send(frame);
  }

  function onWelcome(w) {
    const kind = state.joinKind;
    const previousRoom = state.shownRoom;
    state.awaitingWelcome = false;
    state.joined = true;
    state.wantJoin = true;
    state.inFlight = null;
    conn.attempt = 0;
    state.nick = w.nick;
    state.wantedNick = w.nick;
    state.session = w.session;
    state.limits = w.limits;
    const previousEpoch = state.epoch;
    state.room = w.room;
    rememberNick(w.nick);

    if (w.room !== previousRoom) {
      const dropped = discardPendingOutside(w.room);
      $('messages').replaceChildren(...pendingItems());
      state.lastId = 0;
      state.shownRoom = w.room;
      if (previousRoom !== null) notice(`You left #${previousRoom} and joined #${w.room}.`);
      if (dropped > 0) notice(`${dropped} unsent message(s) meant for #${previousRoom} were dropped.`, 'error');
      if (roomFromUrl() !== w.room) location.hash = w.room;
    } else if (state.joinSince !== undefined && (w.epoch !== previousEpoch || w.cursor < state.joinSince)) {
      // The room's numbering started again (the server restarted, or the
      // room was emptied and recreated): old ids mean nothing any more.
      state.lastId = 0;
      notice('The server restarted and lost this room\'s history; messages sent while you were away may be missing.', 'error');
    }
    state.epoch = w.epoch;
    if (kind === 'rejoin') notice('Reconnected.');
    if (w.gap) notice('Some messages were missed while you were away; only the most recent ones are shown.');
    for (const message of w.history) onMessage(message);
    // Messages up to the cursor that were not replayed predate this visit.
    state.lastId = Math.max(state.lastId, w.cursor);

    state.roster = new Map(w.roster.map((entry) => [entry.nick, { typing: !!entry.typing }]));
    state.count = w.count;
    $('roster-panel').classList.remove('stale');
    renderRoster();
    renderTyping();
    showRoomName();
    applyLimits();
    showChat();
    setConnState('connected');
    scrollToEnd();
    // Unacknowledged messages go again with their refs: the server
    // recognises any it already posted and only acks those.
    pump();
  }

  function onMessage(m) {
    if (!Number.isSafeInteger(m.id) || m.id <= state.lastId) return;
    state.lastId = m.id;
    if (m.nick === state.nick) adoptPending(m);
    const typist = state.roster.get(m.nick);
    if (typist && typist.typing) {
      typist.typing = false; // a message ends its sender's typing
      renderTyping();
      renderRoster();
    }
    insertItem(messageItem(m));
    if (document.hidden && m.nick !== state.nick) {
      state.unread += 1;
      showRoomName();
    }
  }

  function onAck(a) {
    const entry = state.pending.get(a.ref);
    if (!entry) return;
    // The server sends a message to the room before acking it, and a resend
    // of something already posted is in the welcome's replay or was seen, so
    // the message itself is on screen by now: the placeholder can go.
    state.pending.delete(a.ref);
    if (entry.li) entry.li.remove();
    if (state.inFlight === a.ref) state.inFlight = null;
    pump();
  }

  function onJoined(j) {
    state.roster.set(j.nick, { typing: false });
    state.count = j.count;
    renderRoster();
    notice(`${j.nick} joined — ${participants(j.count)}`);
  }

  function onLeft(l) {
    state.roster.delete(l.nick);
    state.count = l.count;
    renderRoster();
    renderTyping();
    notice(`${l.nick} left — ${participants(l.count)}`);
  }

  /**
   * Several arrivals and departures at once, applied in order as set
   * changes (a batch may name someone already listed, or this user).
   */
  function onPresence(p) {
    let came = 0;
    let went = 0;
    for (const change of p.changes) {
      if (change.present) {
        if (!state.roster.has(change.nick)) state.roster.set(change.nick, { typing: false });
        came += 1;
      } else if (change.nick !== state.nick) {
        state.roster.delete(change.nick);
        went += 1;
      }
    }
    state.count = p.count;
    renderRoster();
    renderTyping();
    const parts = [];
    if (came > 0) parts.push(`${came} joined`);
    if (went > 0) parts.push(`${went} left`);
    if (parts.length > 0) notice(`${parts.join(', ')} — ${participants(p.count)}`);
  }

  function onRenamed(r) {
    state.roster = new Map([...state.roster].map(([nick, info]) => [nick === r.old ? r.new : nick, info]));
    if (r.old === state.nick) {
      state.nick = r.new;
      state.wantedNick = r.new;
      rememberNick(r.new);
      notice(`You are now known as ${r.new}.`);
    } else {
      notice(`${r.old} is now known as ${r.new}.`);
    }
    renderRoster();
    renderTyping();
  }

  function onTyping(t) {
    const info = state.roster.get(t.nick);
    if (!info || t.nick === state.nick) return;
    info.typing = !!t.on;
    renderTyping();
    renderRoster();
  }

  function onLeftRoom(l) {
    state.joined = false;
    state.wantJoin = false;
    notice(`You left #${l.room}.`);
  }

  /**
   * The server lost (or regained) the store that joins it to the other
   * instances. Nothing is lost: refused sends stay pending and go out
   * again when it is back.
   */
  function onStatus(s) {
    const degraded = !!s.degraded;
    const status = $('conn-state');
    if (degraded === (status.dataset.degraded === 'true')) return;
    status.dataset.degraded = String(degraded);
    if (degraded) {
      notice('The chat is degraded: the server cannot reach its other instances. Your messages wait and are sent when it recovers.', 'error');
    } else {
      notice('The chat has recovered.');
      state.holdUntil = 0;
      pump();
    }
  }

  function onError(e) {
    const entry = e.ref ? state.pending.get(e.ref) : undefined;
    // Both mean "not now": the message stays pending and is resent (with
    // the same ref, so it is posted once) after the wait.
    if (e.code === 'rate_limited' || e.code === 'degraded') {
      const wait = Number.isFinite(e.retry_ms) ? e.retry_ms : 1000;
      if (entry) {
        if (state.inFlight === entry.ref) state.inFlight = null;
        state.holdUntil = Date.now() + wait;
        pump();
      } else if (state.awaitingWelcome) {
        state.awaitingWelcome = false;
        setTimeout(() => { if (needsJoin() && conn.open && !state.awaitingWelcome) sendJoin(); }, wait);
      } else if (e.code === 'rate_limited') {
        notice('You are sending too fast; wait a moment.', 'error');
      } else {
        setTimeout(pump, wait);
      }
      return;
    }
    if (entry) {
      if (state.inFlight === entry.ref) state.inFlight = null;
      // Not joined yet: it stays pending and goes out after the next welcome.
      if (e.code !== 'not_joined') failPending(entry, e.message);
      return;
    }
    if (state.awaitingWelcome && JOIN_ERRORS.has(e.code)) {
      joinFailed(e);
      return;
    }
    notice(e.message, 'error');
  }

  function joinFailed(e) {
    state.awaitingWelcome = false;
    if (state.joinKind === 'switch' && state.joined) {
      // The server refused before moving us: we are still where we were.
      notice(`Could not join #${state.room}: ${e.message}`, 'error');
      for (const entry of [...state.pending.values()]) {
        if (entry.room === state.room) failPending(entry, `could not join #${entry.room}`);
      }
      state.room = state.shownRoom;
      if (roomFromUrl() !== state.room) history.replaceState(null, '', `#${state.room}`);
      pump();
      return;
    }
    state.joined = false;
    state.wantJoin = false;
    showLogin(e.message);
  }

  // ---- Outgoing messages ---------------------------------------------------

  function newRef() {
    const random = crypto.getRandomValues(new Uint32Array(2));
    state.refCounter += 1;
    return `c${state.refCounter}-${random[0].toString(36)}${random[1].toString(36)}`;
  }

  function say(text) {
    const entry = { ref: newRef(), text, room: state.room, li: null };
    entry.li = pendingItem(entry);
    state.pending.set(entry.ref, entry);
    insertItem(entry.li);
    scrollToEnd();
    pump();
  }

  /**
   * Sends the oldest pending message of this room, one at a time: the next
   * goes once the previous is acknowledged. That costs a round trip per
   * message, but a rate-limited message can never be overtaken by a later
   * one, so everybody sees a person's messages in the order written.
   */
  function pump() {
    if (state.inFlight !== null || !state.joined || state.awaitingWelcome) return;
    const wait = state.holdUntil - Date.now();
    if (wait > 0) {
      clearTimeout(state.holdTimer);
      state.holdTimer = setTimeout(pump, wait);
      return;
    }
    for (const entry of state.pending.values()) {
      if (entry.room !== state.room) continue;
      if (send({ type: 'say', text: entry.text, ref: entry.ref })) state.inFlight = entry.ref;
      return;
    }
  }

  /** Our own message arrived: its greyed placeholder gives way to it. */
  function adoptPending(m) {
    for (const entry of state.pending.values()) {
      if (entry.li && entry.room === state.room && entry.text === m.text) {
        entry.li.remove();
        entry.li = null;
        return;
      }
    }
  }

  function failPending(entry, why) {
    state.pending.delete(entry.ref);
    if (state.inFlight === entry.ref) state.inFlight = null;
    if (entry.li) {
      entry.li.classList.replace('pending', 'failed');
      entry.li.querySelector('.status').textContent = `not sent: ${why}`;
    }
    pump();
  }

  /** Fails the pending messages of rooms other than `room`; returns how many. */
  function discardPendingOutside(room) {
    let dropped = 0;
    for (const entry of [...state.pending.values()]) {
      if (entry.room !== room) {
        failPending(entry, 'left the room');
        dropped += 1;
      }
    }
    return dropped;
  }

  function pendingItems() {
    return [...state.pending.values()].map((entry) => entry.li).filter(Boolean);
  }

  // ---- Rendering -----------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /**
   * A hue from FNV-1a of the case-folded nickname (case-folded because the
   * server treats Ann and ann as one name), finished with murmur3's 32-bit
   * mix: plain FNV moves the top bits little for names that differ only at
   * the end (u20, u21, ...), which then all came out the same red. The CSS
   * picks a saturation and lightness readable on the theme.
   */
  function nickHue(nick) {
    let hash = 0x811c9dc5;
    for (const ch of nick.toLowerCase()) {
      hash ^= ch.codePointAt(0);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b) >>> 0;
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
    hash ^= hash >>> 16;
    return Math.floor(((hash >>> 0) / 2 ** 32) * 360);
  }

  function nickSpan(nick) {
    const span = el('span', 'nick', nick);
    span.style.setProperty('--hue', String(nickHue(nick)));
    return span;
  }

  const two = (n) => String(n).padStart(2, '0');

  function timeElement(ts) {
    const when = new Date(ts);
    const time = el('time', 'time', `${two(when.getHours())}:${two(when.getMinutes())}`);
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
    return time;
  }

  function messageItem(m) {
    const li = el('li', 'message');
    li.dataset.id = String(m.id);
    if (m.nick === state.nick) li.classList.add('own');
    li.append(timeElement(m.ts), ' ', nickSpan(m.nick), el('span', 'visually-hidden', ': '), el('span', 'text', m.text));
    return li;
  }

  function pendingItem(entry) {
    const li = el('li', 'message own pending');
    li.dataset.ref = entry.ref;
    li.append(el('span', 'time', '--:--'), ' ', nickSpan(state.nick || state.wantedNick),
      el('span', 'visually-hidden', ': '), el('span', 'text', entry.text), el('span', 'status', 'sending…'));
    return li;
  }

  function participants(n) {
    return n === 1 ? 'there is 1 participant' : `there are ${n} participants`;
  }

  function notice(text, kind) {
    const li = el('li', kind === 'error' ? 'notice error' : 'notice', text);
    insertItem(li);
    scrollIfFollowing();
  }

  let following = true;

  /**
   * Adds an item before the pending placeholders (they stay last until
   * acknowledged) and trims the oldest items past MAX_RENDERED.
   */
  function insertItem(li) {
    const list = $('messages');
    following = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    const firstPending = list.querySelector(':scope > li.pending');
    list.insertBefore(li, li.classList.contains('pending') ? null : firstPending);
    while (list.children.length > MAX_RENDERED && !list.firstElementChild.classList.contains('pending')) {
      list.firstElementChild.remove();
    }
  }

  function scrollIfFollowing() {
    if (following) scrollToEnd();
  }

  function scrollToEnd() {
    const list = $('messages');
    list.scrollTop = list.scrollHeight;
    following = true;
  }

  function renderRoster() {
    const items = [...state.roster].map(([nick, info]) => {
      const li = el('li', info.typing ? 'person typing' : 'person');
      li.dataset.nick = nick;
      const swatch = el('span', 'swatch');
      swatch.style.setProperty('--hue', String(nickHue(nick)));
      swatch.setAttribute('aria-hidden', 'true');
      li.append(swatch, nickSpan(nick));
      if (nick === state.nick) li.append(el('span', 'you', ' (you)'));
      if (info.typing) li.append(el('span', 'typing-mark', ' typing…'));
      return li;
    });
    $('roster').replaceChildren(...items);
    $('count').textContent = String(state.count);
    $('roster-toggle-count').textContent = String(state.count);
  }

  function renderTyping() {
    const names = [...state.roster]
      .filter(([nick, info]) => info.typing && nick !== state.nick)
      .map(([nick]) => nick);
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'several people are typing…';
    $('typing').textContent = text;
  }

  function showRoomName() {
    const label = `#${state.room}`;
    $('room-name').textContent = label;
    $('login-room').textContent = label;
    $('message-input').placeholder = `Message ${label}`;
    document.title = `${state.unread > 0 ? `(${state.unread}) ` : ''}${label} — Parley`;
  }

  function applyLimits() {
    const max = state.limits && state.limits.max_message_chars;
    if (max > 0) $('message-input').maxLength = max;
    updateCounter();
  }

  function updateCounter() {
    const max = state.limits && state.limits.max_message_chars;
    const counter = $('char-count');
    // maxlength counts UTF-16 units, so count the same way: never more
    // lenient than the server, which counts characters.
    const used = $('message-input').value.length;
    if (!max || used < max * COUNTER_FROM) {
      counter.textContent = '';
      counter.classList.remove('at-limit');
      return;
    }
    const left = Math.max(0, max - used);
    counter.textContent = left === 1 ? '1 character left' : `${left} characters left`;
    counter.classList.toggle('at-limit', left === 0);
  }

  function showLogin(error) {
    state.view = 'login';
    page.dataset.view = 'login';
    page.classList.remove('roster-open');
    $('chat-view').hidden = true;
    $('login-view').hidden = false;
    const input = $('nick-input');
    if (state.wantedNick) input.value = state.wantedNick;
    showNickError(error || '');
    input.focus();
    if (error) input.select();
  }

  function showNickError(text) {
    $('nick-error').textContent = text;
    $('nick-input').setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  function showChat() {
    if (state.view === 'chat') return;
    state.view = 'chat';
    page.dataset.view = 'chat';
    $('login-view').hidden = true;
    $('chat-view').hidden = false;
    $('message-input').focus();
  }

  // ---- Input ---------------------------------------------------------------

  function onNickSubmit(event) {
    event.preventDefault();
    const nick = $('nick-input').value.trim();
    if (!nick) {
      showNickError('Please choose a nickname.');
      return;
    }
    if (state.awaitingWelcome) return;
    showNickError('');
    state.wantedNick = nick;
    state.wantJoin = true;
    if (conn.open) sendJoin();
    else reconnectNow();
  }

  function onMessageKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing &&
        !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      submitMessage();
    }
  }

  function submitMessage() {
    const input = $('message-input');
    const raw = input.value;
    if (!raw.trim()) return;
    if (raw.startsWith('/') && !raw.startsWith('//')) {
      if (runCommand(raw)) clearComposer();
      return;
    }
    const text = raw.startsWith('//') ? raw.slice(1) : raw;
    const max = state.limits && state.limits.max_message_chars;
    if (max && [...text].length > max) {
      notice(`That message is longer than ${max} characters.`, 'error');
      return;
    }
    stopTyping();
    say(text);
    clearComposer();
  }

  function clearComposer() {
    const input = $('message-input');
    input.value = '';
    autoGrow();
    updateCounter();
    stopTyping();
  }

  const HELP = 'Commands: /join room (switch rooms), /nick name (change nickname), /help. ' +
    'Start a message with // to send one that begins with /.';

  /** Runs a /command; false leaves the text in the box to be corrected. */
  function runCommand(raw) {
    const [, command, rest] = raw.match(/^\/(\S*)\s*([\s\S]*)$/);
    const arg = rest.trim();
    switch (command.toLowerCase()) {
      case 'join': {
        const room = arg.replace(/^#/, '').toLowerCase();
        if (!room) {
          notice('Usage: /join roomname', 'error');
          return false;
        }
        switchRoom(room);
        return true;
      }
      case 'nick':
        if (!arg) {
          notice('Usage: /nick newname', 'error');
          return false;
        }
        if (!state.joined) {
          notice('Not connected; try again once reconnected.', 'error');
          return false;
        }
        send({ type: 'nick', nick: arg });
        return true;
      case 'help':
        notice(HELP);
        return true;
      default:
        notice(`Unknown command /${command}. ${HELP}`, 'error');
        return false;
    }
  }

  function switchRoom(room) {
    if (room === state.room && (state.joined || state.awaitingWelcome)) {
      notice(`You are already in #${room}.`);
      return;
    }
    stopTyping();
    state.room = room;
    state.wantJoin = true;
    if (conn.open) sendJoin();
    else reconnectNow();
  }

  const TYPING_RENEW_MS = 4000;

  function noteTyping() {
    const value = $('message-input').value;
    if (!value.trim() || (value.startsWith('/') && !value.startsWith('//'))) {
      stopTyping();
      return;
    }
    // Sent on the first keystroke, then renewed every TYPING_RENEW_MS while
    // typing goes on: the server ends an indicator not renewed in 8 s.
    const now = Date.now();
    if (state.joined && (!state.typingOn || now - (state.typingSentAt || 0) > TYPING_RENEW_MS)) {
      state.typingOn = send({ type: 'typing', on: true });
      state.typingSentAt = now;
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (!state.typingOn) return;
    state.typingOn = false;
    if (state.joined) send({ type: 'typing', on: false });
  }

  function autoGrow() {
    const input = $('message-input');
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  }

  function toggleRoster(open) {
    const show = open === undefined ? !page.classList.contains('roster-open') : open;
    page.classList.toggle('roster-open', show);
    $('roster-toggle').setAttribute('aria-expanded', String(show));
  }

  function rememberNick(nick) {
    try {
      localStorage.setItem('parley.nick', nick);
    } catch (_) { /* storage may be disabled; the nickname is only a convenience */ }
  }

  function recalledNick() {
    try {
      return localStorage.getItem('parley.nick') || '';
    } catch (_) {
      return '';
    }
  }

  // ---- Start ---------------------------------------------------------------

  function start() {
    page.dataset.view = 'login';
    showTransport();
    $('nick-input').value = recalledNick();
    showRoomName();
    $('nick-form').addEventListener('submit', onNickSubmit);
    $('message-form').addEventListener('submit', (event) => {
      event.preventDefault();
      submitMessage();
    });
    const input = $('message-input');
    input.addEventListener('keydown', onMessageKey);
    input.addEventListener('input', () => {
      autoGrow();
      updateCounter();
      noteTyping();
    });
    $('messages').addEventListener('scroll', () => {
      const list = $('messages');
      following = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    });
    $('reconnect-now').addEventListener('click', reconnectNow);
    $('roster-toggle').addEventListener('click', () => toggleRoster());
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && page.classList.contains('roster-open')) {
        toggleRoster(false);
        $('roster-toggle').focus();
      }
    });
    window.addEventListener('hashchange', () => {
      const room = roomFromUrl();
      if (room === state.room) return;
      if (state.view === 'chat') switchRoom(room);
      else {
        state.room = room;
        showRoomName();
      }
    });
    window.addEventListener('online', () => { if (!conn.transport && !conn.stopped) connect(); });
    window.addEventListener('offline', () => { if (!conn.transport) setConnState('reconnecting'); });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.unread > 0) {
        state.unread = 0;
        showRoomName();
      }
    });
    // Closing on the way out lets the others see us leave at once, and lets
    // the browser keep the page in its back/forward cache.
    window.addEventListener('pagehide', () => {
      conn.stopped = true;
      clearTimeout(conn.retryTimer);
      clearInterval(conn.countdownTimer);
      dropLink();
    });
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) reconnectNow();
    });
    $('nick-input').focus();
    connect();
  }

  start();
})();
