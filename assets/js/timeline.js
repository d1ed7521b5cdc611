/*
 * How the message list reads as a conversation: which messages run on from
 * the one before (one sender, a few minutes apart, the same day, so the
 * name and time are shown once for the lot), and the wording of the date
 * lines between days ("Today", "Yesterday", "Monday 3 March", "3 March
 * 2023").
 *
 * Owns: nothing mutable; pure functions of timestamps (milliseconds since
 * the epoch, as the server sends them) and the reader's clock and time
 * zone.
 * Must not touch: the DOM, timers or the network; view.js draws the
 * groups and the date lines (as text, never as HTML).
 */

/** Messages from one sender this close together share one name and time. */
export const GROUP_WINDOW_MS = 5 * 60 * 1000;

const two = (n) => String(n).padStart(2, '0');

/** "YYYY-MM-DD" of a timestamp, in local time: the day a message belongs to. */
export function dayKey(ts) {
  const when = new Date(ts);
  return `${when.getFullYear()}-${two(when.getMonth() + 1)}-${two(when.getDate())}`;
}

/**
 * Whether message `next` ({nick, ts}) runs on from `prev`, the message
 * just above it with nothing between: the same sender, the same day, and
 * less than GROUP_WINDOW_MS apart (either way round, should clocks
 * disagree).
 */
export function continues(prev, next) {
  if (!prev || !next || prev.nick !== next.nick) return false;
  if (!Number.isFinite(prev.ts) || !Number.isFinite(next.ts)) return false;
  if (dayKey(prev.ts) !== dayKey(next.ts)) return false;
  return Math.abs(next.ts - prev.ts) < GROUP_WINDOW_MS;
}

/** Local midnight starting the day of `ts`. */
function startOfDay(ts) {
  const when = new Date(ts);
  return new Date(when.getFullYear(), when.getMonth(), when.getDate()).getTime();
}

/**
 * How long from `now` until the next local midnight, when the date lines
 * change their words (at least 1 ms). Made from the calendar, so a day of
 * 23 or 25 hours (a daylight-saving change) is counted right.
 */
export function msUntilNextDay(now) {
  const when = new Date(now);
  const next = new Date(when.getFullYear(), when.getMonth(), when.getDate() + 1).getTime();
  return Math.max(1, next - now);
}

/**
 * The date line above the first message of a day: "Today", "Yesterday",
 * the weekday and date within the last week ("Monday 3 March"), the date
 * in this year ("3 March"), else with its year ("3 March 2023"). Days are
 * counted on the calendar, not in 24-hour steps, so a message from 23:50
 * is "Yesterday" ten minutes after midnight. `locale` is for the names of
 * days and months (the page is in English).
 */
export function dayLabel(ts, now, locale = 'en-GB') {
  const day = new Date(startOfDay(ts));
  const today = new Date(startOfDay(now));
  // Calendar days between them; rounding absorbs a 23- or 25-hour day.
  const daysAgo = Math.round((today - day) / 86_400_000);
  if (daysAgo === 0) return 'Today';
  if (daysAgo === 1) return 'Yesterday';
  if (daysAgo > 1 && daysAgo < 7) {
    return day.toLocaleDateString(locale, { weekday: 'long', day: 'numeric', month: 'long' });
  }
  if (day.getFullYear() === today.getFullYear()) {
    return day.toLocaleDateString(locale, { day: 'numeric', month: 'long' });
  }
  return day.toLocaleDateString(locale, { day: 'numeric', month: 'long', year: 'numeric' });
}
