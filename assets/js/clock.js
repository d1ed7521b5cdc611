/*
 * The browser's timers and clock, as the modules that keep time take them
 * (older.js, roster-pager.js, typing.js: `io`, merged over this default),
 * so that Node's tests can pass a fake clock instead.
 *
 * Owns: nothing; no state.
 * Must not touch: anything; it only forwards to the browser's own.
 */

/** setTimeout, clearTimeout and now(), from the browser. */
export const BROWSER_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => Date.now(),
};
