/*
 * The turn of the day while the page is open: the date lines ("Today",
 * "Yesterday") are words relative to the reader's today, so at local
 * midnight they must be said again. One timer, set for the next local
 * midnight (timeline.js's msUntilNextDay, which knows a 23- or 25-hour
 * day), relabels and sets the next; no polling. A page that was asleep or
 * in the background past midnight (whose timers the browser delays) is
 * relabelled when it is shown again (`shown()`, on visibilitychange).
 *
 * Owns: its timer.
 * Must not touch: the DOM: it calls `relabel(now)`, which the view does.
 */

import { BROWSER_IO } from './clock.js';
import { msUntilNextDay } from './timeline.js';

/** A day turn. `io` is {setTimeout, clearTimeout, now} (clock.js by default). */
export function createDayTurn({ relabel, io = {} }) {
  const clock = { ...BROWSER_IO, ...io };
  let timer = 0;

  function schedule() {
    clock.clearTimeout(timer);
    timer = clock.setTimeout(turned, msUntilNextDay(clock.now()));
  }

  function turned() {
    timer = 0;
    relabel(clock.now());
    schedule();
  }

  return {
    /** Starts watching for midnight. */
    start: schedule,
    /** The page is shown again: its timer may have been held back. */
    shown() {
      relabel(clock.now());
      schedule();
    },
    stop() {
      clock.clearTimeout(timer);
      timer = 0;
    },
  };
}
