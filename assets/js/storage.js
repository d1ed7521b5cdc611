/*
 * What the page keeps beyond itself: the last nickname (localStorage).
 * Storage may be disabled; then this quietly remembers nothing, since it
 * is only a convenience. (The fallback to long-polling is remembered by
 * the client library, clients/js/memory.js, under the key main.js gives.)
 *
 * Owns: the key parley.nick.
 * Must not touch: anything else; it reads storage only when called.
 */

export function rememberNick(nick) {
  try {
    localStorage.setItem('parley.nick', nick);
  } catch (_) { /* storage may be disabled; the nickname is only a convenience */ }
}

export function recalledNick() {
  try {
    return localStorage.getItem('parley.nick') || '';
  } catch (_) {
    return '';
  }
}
