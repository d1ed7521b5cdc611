/*
 * The wire protocol of src/protocol.rs as the page speaks it: the version a
 * join announces, the close codes, which errors answer a join, and frames
 * to text and back. Close codes are WebSocket's whatever the transport: the
 * polling transport reports its ends in them too, so one close handler
 * serves both.
 *
 * Owns: nothing mutable; constants and pure functions only.
 * Must not touch: the DOM, the network, timers or storage. Node imports it
 * as is (tests/js/).
 */

export const PROTOCOL_VERSION = 1;

/**
 * The minor version a join states (PROTOCOL.md 1.2): 2, the roster in
 * pages. Stating it makes the welcome list one page in name order, and
 * nothing when the room is big; `roster` requests list the rest.
 */
export const STATED_MINOR = 2;

/** WebSocket close codes, as both transports report them. */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  PROTOCOL: 1002,
  ABNORMAL: 1006,
  POLICY: 1008,
  TOO_BIG: 1009,
  TRY_LATER: 1013,
  /** Another window opened the same chat: stop, do not reconnect. */
  REPLACED: 4001,
  /** The polling session expired: reconnect and resume. */
  EXPIRED: 4002,
  /**
   * The tab holding a connection shared by several tabs went away and
   * another takes over (tab-link.js): reconnect at once and resume. Sent
   * to the server (WebSocket) it asks it to keep the member's place for
   * the resume rather than make it leave (PROTOCOL.md 2.2).
   */
  HANDOVER: 4100,
  /**
   * The server refused this page's origin (403 origin_not_allowed), most
   * often because a proxy changed Host: stop, and show the reason (its
   * hint, which names the fix) rather than retry into the same refusal.
   */
  REFUSED: 4030,
});

/** Errors that answer a join (and then no welcome follows). */
const JOIN_ERRORS = new Set([
  'invalid_nick', 'nick_taken', 'invalid_room', 'too_many_rooms', 'room_full', 'unsupported_version',
]);

/** Whether an error with this code answers a join. */
export function isJoinError(code) {
  return JOIN_ERRORS.has(code);
}

/**
 * Whether error `e` is a server older than minor 2 refusing a join's
 * `minor` (an unknown member is `bad_frame`, its message naming it): the
 * join goes again without it (PROTOCOL.md 1.2).
 */
export function refusesMinor(e) {
  return e.code === 'bad_frame' && /\bminor\b/.test(String(e.message || ''));
}

/** Whether a value is a frame: anything with a string `type`. */
export function isFrame(value) {
  return Boolean(value) && typeof value.type === 'string';
}

/** A frame from its JSON text; null when the text is not one. */
export function parseFrame(text) {
  if (typeof text !== 'string') return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch (_) {
    return null;
  }
  return isFrame(value) ? value : null;
}

/** A frame's JSON text. */
export function encodeFrame(frame) {
  return JSON.stringify(frame);
}

/**
 * A join frame. `minor` goes when the client states one (undefined: an
 * older server refused it); `since` (with `epoch`, the numbering it
 * belongs to) only on a rejoin of the room shown; `resume` whenever a
 * welcome gave one.
 */
export function joinFrame({
  nick, room, since, epoch, resume, minor,
}) {
  const frame = { type: 'join', v: PROTOCOL_VERSION };
  if (minor !== undefined) frame.minor = minor;
  frame.nick = nick;
  frame.room = room;
  if (since !== undefined) {
    frame.since = since;
    // A restarted room ignores a `since` from another numbering.
    if (epoch) frame.epoch = epoch;
  }
  if (resume) frame.resume = resume;
  return frame;
}
