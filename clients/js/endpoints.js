/*
 * Where a Parley server is, from the URL it is mounted at: the prefix of
 * its HTTP endpoints (long-polling: {prefix}/poll...) and its WebSocket
 * URL ({ws(s)}://host{base}/ws). "https://host/chat/", "https://host/chat"
 * and "wss://host/chat/ws" name the same server; a relative URL ("/chat/",
 * "") is taken relative to the page's address when there is one.
 *
 * Owns: nothing mutable; pure functions.
 * Must not touch: the network, the DOM or storage.
 */

/**
 * {http, ws, base, origin} for a server at `url`, resolved against `here`
 * (the page's address, when the URL is relative). `http` has no trailing
 * slash: endpoints are `${http}/poll`. Throws a TypeError for a URL that
 * is neither absolute nor resolvable.
 */
export function endpoints(url, here = globalThis.location && globalThis.location.href) {
  const parsed = here === undefined ? new URL(url) : new URL(url, here);
  let scheme = parsed.protocol;
  if (scheme === 'ws:') scheme = 'http:';
  if (scheme === 'wss:') scheme = 'https:';
  if (scheme !== 'http:' && scheme !== 'https:') {
    throw new TypeError(`a Parley server URL is http(s) or ws(s), not ${parsed.protocol}`);
  }
  let base = parsed.pathname.replace(/\/+$/, '');
  // The WebSocket endpoint itself names the server it belongs to.
  if (parsed.protocol.startsWith('ws') && base.endsWith('/ws')) base = base.slice(0, -3);
  const origin = `${scheme}//${parsed.host}`;
  return {
    http: `${origin}${base}`,
    ws: `${scheme === 'https:' ? 'wss:' : 'ws:'}//${parsed.host}${base}/ws`,
    base,
    origin,
  };
}
