/*
 * What the client remembers beyond itself: that WebSocket did not get
 * through and it fell back to long-polling, so the next client made (the
 * page reloaded) starts on polling at once. Kept in a Storage-like object
 * ({getItem, setItem}) the caller may hand in; by default the platform's
 * sessionStorage (per tab) when there is one, else nothing is kept beyond
 * the client. Storage may be disabled or full; then nothing is kept, since
 * this is only a shortcut.
 *
 * Owns: the one key it is given.
 * Must not touch: any other key; it reads storage only when called.
 */

/** The platform's sessionStorage, or null when there is none or it is refused. */
export function defaultStorage() {
  try {
    return globalThis.sessionStorage || null;
  } catch (_) {
    return null;
  }
}

/** The transport remembered under `key` in `storage`, if it is among `offered`. */
export function recalledTransport(storage, key, offered) {
  if (!storage) return null;
  try {
    const name = storage.getItem(key);
    return name && offered.includes(name) ? name : null;
  } catch (_) {
    return null;
  }
}

/** Remembers `name` under `key` in `storage` (quietly nothing when it cannot). */
export function rememberTransport(storage, key, name) {
  if (!storage) return;
  try {
    storage.setItem(key, name);
  } catch (_) { /* the next client simply tries WebSocket first again */ }
}
