/*
 * What the page keeps beyond itself: the last nickname (localStorage) and,
 * for the tab, the fallback to long-polling (sessionStorage, per mount
 * point). Storage may be disabled; then these quietly remember nothing,
 * since both are only conveniences.
 *
 * Owns: the keys parley.nick and parley.transport:{base}.
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

/** The fallback is remembered per tab and per mount point. */
const transportKey = (base) => `parley.transport:${base}`;

/** The transport this tab fell back to under `base`, if still `offered`. */
export function rememberedTransport(base, offered) {
  try {
    const name = sessionStorage.getItem(transportKey(base));
    return name && offered.includes(name) ? name : null;
  } catch (_) {
    return null;
  }
}

export function rememberTransport(base, name) {
  try {
    sessionStorage.setItem(transportKey(base), name);
  } catch (_) { /* storage may be disabled; the tab then retries WebSocket next load */ }
}
