/*
 * The transport check page (templates/check.html, src/http/check.rs): runs,
 * one after another, the checks that tell why the chat cannot connect from
 * this browser through this proxy, and shows each with its verdict, its
 * time and, when it fails, the fix for IIS, Azure App Service, nginx and
 * Apache. The results can be copied as text for a support request.
 *
 * Owns: the page's list of results. It opens its own WebSocket and polling
 * session (nickname and room "parley-check-…") and closes them.
 * Must not touch: the chat page's state or storage.
 */

const base = document.body.dataset.base || '';
const list = document.getElementById('checks');
const results = [];

/** The fixes, by what failed. */
const FIXES = {
  origin: (seen) => seen.hint || 'Start Parley with --public-url set to this page\'s address, or have the proxy pass the original Host.',
  websocket: [
    'nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";',
    'Apache: a2enmod proxy_wstunnel, and RewriteEngine On; RewriteCond %{HTTP:Upgrade} =websocket [NC]; RewriteRule ^/?(.*) ws://127.0.0.1:3000/$1 [P,L]',
    'IIS: install the WebSocket Protocol feature (Server Manager, Web Server, Application Development); web.config must not set <webSocket enabled="true"> for HttpPlatformHandler sites.',
    'Azure App Service: Configuration, General settings, Web sockets: On.',
    'Otherwise the chat still works over long-polling.',
  ].join('\n'),
  buffered: [
    'nginx: proxy_buffering off; in the location of {base}/poll (Parley also sends X-Accel-Buffering: no).',
    'Apache: no mod_deflate or mod_buffer on {base}/poll; ProxyPass ... flushpackets=on.',
    'IIS: responseBufferLimit="0" on the handler (the shipped web.config has it).',
  ].join('\n'),
  idle: [
    'nginx: proxy_read_timeout 60s;',
    'Apache: ProxyTimeout 60',
    'IIS: requestTimeout="00:02:00" on httpPlatform (the shipped web.config has it); ARR: Server Proxy Settings, Time-out 120 s.',
    'Azure App Service allows 230 s: fine.',
    'Or start Parley with a shorter --poll-wait-secs.',
  ].join('\n'),
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Shows one result: verdict is pass, fail, warn or info. */
function show({ name, verdict, ms, detail, fix }) {
  results.push({ name, verdict, ms, detail, fix });
  const li = el('li', `check-item ${verdict}`);
  li.dataset.check = name;
  li.dataset.verdict = verdict;
  const head = el('p', 'check-head');
  head.append(el('strong', 'check-verdict', verdict.toUpperCase()), ` ${name}`);
  if (ms !== undefined) head.append(el('span', 'check-ms', ` (${Math.round(ms)} ms)`));
  li.append(head);
  if (detail) li.append(el('p', 'check-detail', detail));
  if (fix) li.append(el('pre', 'check-fix', fix.replaceAll('{base}', base)));
  list.append(li);
}

function timed(promise, ms) {
  let timer = 0;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function json(method, path, { body, session, ms = 10000 } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session) headers['Parley-Session'] = session;
  const response = await timed(fetch(`${base}${path}`, { method, headers, body, cache: 'no-store' }), ms);
  let parsed = null;
  try {
    parsed = await response.json();
  } catch (_) {
    parsed = null;
  }
  return { status: response.status, body: parsed };
}

async function checkOrigin() {
  const started = performance.now();
  let seen;
  try {
    const answer = await json('POST', '/check/seen', { body: '{}' });
    if (answer.status !== 200 || !answer.body) throw new Error(`HTTP ${answer.status}`);
    seen = answer.body;
  } catch (err) {
    show({ name: 'The server answers', verdict: 'fail', ms: performance.now() - started,
      detail: `${base}/check/seen did not answer: ${err.message}`,
      fix: 'The proxy does not reach Parley at this path: check its address, port and base path (--base-path).' });
    return null;
  }
  const ms = performance.now() - started;
  const page = window.location.origin;
  const detail = `This page: ${page}. The server saw Origin ${seen.origin || '(none)'}, Host ${seen.host || '(none)'}`
    + `${seen.x_forwarded_host ? `, X-Forwarded-Host ${seen.x_forwarded_host}` : ''}`
    + `${seen.x_forwarded_proto ? `, X-Forwarded-Proto ${seen.x_forwarded_proto}` : ''}`
    + `${seen.public_url ? `; --public-url ${seen.public_url}` : ''}.`;
  show(seen.origin_allowed
    ? { name: 'Origin and host', verdict: 'pass', ms, detail }
    : { name: 'Origin and host', verdict: 'fail', ms, detail, fix: FIXES.origin(seen) });
  const path = window.location.pathname.replace(/\/check\/?$/, '');
  show(path === seen.base_path
    ? { name: 'Base path', verdict: 'pass', detail: `Served under "${seen.base_path || '/'}".` }
    : { name: 'Base path', verdict: 'fail', detail: `This page is at "${path || '/'}" but Parley serves "${seen.base_path || '/'}".`,
      fix: 'Start Parley with --base-path set to the path users see, and let the proxy pass the path through unchanged.' });
  const skew = Math.abs(seen.server_time_ms - Date.now());
  show(skew < 30000
    ? { name: 'Clocks', verdict: 'pass', detail: `Server and browser agree within ${Math.round(skew / 1000)} s.` }
    : { name: 'Clocks', verdict: 'warn', detail: `Server and browser differ by ${Math.round(skew / 1000)} s: message times will look off.`,
      fix: 'Set the server\'s clock (NTP); or this computer\'s.' });
  const secure = window.location.protocol === 'https:';
  show({ name: 'Mixed content', verdict: secure || window.location.hostname === 'localhost' || window.location.hostname === '127.0.0.1' ? 'pass' : 'info',
    detail: secure ? 'The page is https, so the chat uses wss:, never ws:.' : 'The page is plain http: the chat uses ws:. Put TLS in front for anything public.' });
  const protocol = (performance.getEntriesByType('navigation')[0] || {}).nextHopProtocol || 'unknown';
  show({ name: 'Connections per host', verdict: protocol === 'h2' || protocol === 'h3' ? 'pass' : 'info',
    detail: protocol === 'h2' || protocol === 'h3'
      ? `This page came over ${protocol}: many tabs share one connection.`
      : `This page came over ${protocol}: browsers open at most 6 HTTP/1.1 connections to one host, and each tab on long-polling holds one. HTTP/2 at the proxy lifts that.` });
  return seen;
}

function wsUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${base}/ws`;
}

async function checkWebSocket(seen) {
  if (seen && !seen.transports.includes('websocket')) {
    show({ name: 'WebSocket', verdict: 'info', detail: 'The server offers long-polling only (--transports).' });
    return;
  }
  const started = performance.now();
  const socket = new WebSocket(wsUrl());
  const opened = new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onclose = (event) => reject(new Error(`closed with ${event.code} before opening`));
  });
  try {
    await timed(opened, 5000);
  } catch (err) {
    socket.close();
    show({ name: 'WebSocket opens', verdict: 'fail', ms: performance.now() - started,
      detail: `${wsUrl()}: ${err.message}. The proxy strips or refuses the upgrade (or holds it).`, fix: FIXES.websocket });
    return;
  }
  show({ name: 'WebSocket opens', verdict: 'pass', ms: performance.now() - started, detail: wsUrl() });
  const sent = performance.now();
  const pong = new Promise((resolve) => {
    socket.onmessage = (event) => {
      try {
        if (JSON.parse(event.data).type === 'pong') resolve();
      } catch (_) { /* not JSON: keep waiting */ }
    };
  });
  socket.send(JSON.stringify({ type: 'ping' }));
  try {
    await timed(pong, 5000);
    show({ name: 'WebSocket round trip', verdict: 'pass', ms: performance.now() - sent });
  } catch (err) {
    show({ name: 'WebSocket round trip', verdict: 'fail', ms: performance.now() - sent,
      detail: `A ping got no pong: ${err.message}. The proxy lets the upgrade through but not the frames.`, fix: FIXES.websocket });
  }
  socket.close();
}

async function checkPolling(seen) {
  if (seen && !seen.transports.includes('polling')) {
    show({ name: 'Long-polling', verdict: 'info', detail: 'The server offers WebSocket only (--transports).' });
    return;
  }
  const tag = `parley-check-${Math.random().toString(36).slice(2, 8)}`;
  const started = performance.now();
  let session;
  let cursor = 0;
  try {
    const opened = await json('POST', '/poll/open', { body: JSON.stringify({ type: 'join', nick: tag, room: tag }) });
    if (opened.status !== 200 || !opened.body || !opened.body.session) {
      const error = (opened.body && opened.body.error) || {};
      throw new Error(`HTTP ${opened.status} ${error.code || ''} ${error.hint || error.message || ''}`);
    }
    session = opened.body.session;
    cursor = opened.body.cursor;
  } catch (err) {
    show({ name: 'Long-polling opens', verdict: 'fail', ms: performance.now() - started, detail: err.message,
      fix: 'The proxy must pass POST {base}/poll/open with its body; see the other checks.' });
    return;
  }
  show({ name: 'Long-polling opens', verdict: 'pass', ms: performance.now() - started });
  // A poll that waits, then a ping sent beside it: its pong must end the
  // wait at once. A proxy that buffers answers holds it to the end.
  const wait = (seen ? seen.poll_wait_secs : 25) * 1000;
  const hasPong = (answer) => ((answer.body && answer.body.frames) || [])
    .some((frame) => (typeof frame === 'string' ? frame : JSON.stringify(frame)).includes('"pong"'));
  let waiting = json('GET', `/poll?cursor=${cursor}`, { session, ms: wait + 10000 });
  await new Promise((resolve) => { setTimeout(resolve, 300); });
  const sendStarted = performance.now();
  try {
    const sent = await json('POST', '/poll/send', { session, body: JSON.stringify([{ type: 'ping' }]) });
    if (sent.status >= 300) throw new Error(`HTTP ${sent.status}`);
    show({ name: 'Long-polling sends', verdict: 'pass', ms: performance.now() - sendStarted });
  } catch (err) {
    show({ name: 'Long-polling sends', verdict: 'fail', ms: performance.now() - sendStarted, detail: err.message,
      fix: 'The proxy must pass POST {base}/poll/send with its body and the Parley-Session header.' });
    json('POST', '/poll/close', { session }).catch(() => {});
    return;
  }
  let item = null;
  while (!item) {
    try {
      const answer = await waiting;
      const ms = performance.now() - sendStarted;
      if (answer.status !== 200) {
        item = { name: 'Long-poll answers arrive at once', verdict: 'fail', ms, detail: `A poll got HTTP ${answer.status}.`, fix: FIXES.idle };
      } else if (hasPong(answer)) {
        item = ms < Math.min(5000, wait)
          ? { name: 'Long-poll answers arrive at once', verdict: 'pass', ms }
          : { name: 'Long-poll answers arrive at once', verdict: 'fail', ms,
            detail: `The answer came only after ${Math.round(ms / 1000)} s: something holds long-poll answers back.`, fix: FIXES.buffered };
      } else if (ms > wait + 5000) {
        item = { name: 'Long-poll answers arrive at once', verdict: 'fail', ms, detail: 'No pong came back.', fix: FIXES.buffered };
      } else {
        cursor = answer.body.cursor;
        waiting = json('GET', `/poll?cursor=${cursor}`, { session, ms: wait + 10000 });
      }
    } catch (err) {
      item = { name: 'Long-poll answers arrive at once', verdict: 'fail', ms: performance.now() - sendStarted, detail: err.message, fix: FIXES.buffered };
    }
  }
  show(item);
  json('POST', '/poll/close', { session }).catch(() => {});
}

async function checkIdleTimeout(seen) {
  const secs = (seen ? seen.poll_wait_secs : 25) + 2;
  const started = performance.now();
  show({ name: `Idle timeout (waiting ${secs} s, as long as a long-poll)`, verdict: 'info', detail: 'running…' });
  const pending = list.lastChild;
  let item;
  try {
    const answer = await json('GET', `/check/wait?secs=${secs}`, { ms: secs * 1000 + 15000 });
    item = answer.status === 200
      ? { name: 'Idle timeout', verdict: 'pass', ms: performance.now() - started, detail: `A request may wait ${secs} s.` }
      : { name: 'Idle timeout', verdict: 'fail', ms: performance.now() - started,
        detail: `A request waiting ${secs} s got HTTP ${answer.status}: the proxy gives up on idle requests sooner than a long-poll waits.`, fix: FIXES.idle };
  } catch (err) {
    item = { name: 'Idle timeout', verdict: 'fail', ms: performance.now() - started, detail: err.message, fix: FIXES.idle };
  }
  results.pop();
  pending.remove();
  show(item);
}

function asText() {
  const lines = [`Parley connection check, ${new Date().toISOString()}`, `Page: ${window.location.href}`, `Browser: ${navigator.userAgent}`, ''];
  for (const r of results) {
    lines.push(`${r.verdict.toUpperCase()} ${r.name}${r.ms !== undefined ? ` (${Math.round(r.ms)} ms)` : ''}`);
    if (r.detail) lines.push(`  ${r.detail}`);
    if (r.fix) lines.push(...r.fix.replaceAll('{base}', base).split('\n').map((l) => `  fix: ${l}`));
  }
  return lines.join('\n');
}

async function run() {
  const seen = await checkOrigin();
  await checkWebSocket(seen);
  await checkPolling(seen);
  await checkIdleTimeout(seen);
  const failed = results.filter((r) => r.verdict === 'fail').length;
  const done = document.getElementById('check-done');
  done.textContent = failed === 0 ? 'Done: everything the chat needs works here.' : `Done: ${failed} check(s) failed; each says how to fix it.`;
  done.hidden = false;
  document.body.dataset.done = failed === 0 ? 'pass' : 'fail';
  const copy = document.getElementById('check-copy');
  copy.disabled = false;
  copy.addEventListener('click', () => {
    navigator.clipboard.writeText(asText()).then(
      () => { copy.textContent = 'Copied'; },
      () => { copy.textContent = 'Copy failed: select the text above'; },
    );
  });
}

run();
