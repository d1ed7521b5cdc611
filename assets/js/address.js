/*
 * The page's address: ?room=NAME or #NAME picks the room (the hash wins),
 * and ?transport=websocket|polling asks for one transport. Once in a room,
 * the hash follows it, so a reload or a shared link comes back there.
 *
 * Owns: nothing; the address is the browser's (location, history).
 * Must not touch: the DOM or any other module's state. roomFrom() and
 * askedTransport() are pure; the rest read or write `location` only when
 * called (never on import).
 */

export const DEFAULT_ROOM = 'lobby';

/** The room a hash ("#kitchen") and query ("?room=kitchen") name. */
export function roomFrom(hash, search) {
  let fromHash = '';
  try {
    fromHash = decodeURIComponent(hash.replace(/^#/, '')).trim();
  } catch (_) {
    fromHash = '';
  }
  if (fromHash) return fromHash.toLowerCase();
  const asked = (new URLSearchParams(search).get('room') || '').trim();
  return asked ? asked.toLowerCase() : DEFAULT_ROOM;
}

/** The transport ?transport= asks for, or null. */
export function askedTransport(search) {
  return new URLSearchParams(search).get('transport');
}

/** The room the page's address names now. */
export function currentRoom() {
  return roomFrom(location.hash, location.search);
}

/** Points the address at `room` (a new history entry) unless it already names it. */
export function showRoom(room) {
  if (currentRoom() !== room) location.hash = room;
}

/** Puts `room` back in the address in place (no history entry) unless it already names it. */
export function restoreRoom(room) {
  if (currentRoom() !== room) history.replaceState(null, '', `#${room}`);
}
