/*
 * How long to wait before trying again: the page's reconnect backoff
 * ("equal jitter") and the polling transport's retry of a failed request.
 *
 * Owns: nothing mutable; the delays are pure functions of the attempt
 * count (and of a random number, passed in so tests can fix it).
 * Must not touch: timers, the DOM or the network; the callers schedule.
 */

/** First reconnect delay ceiling; doubles per failed attempt up to the max. */
export const BACKOFF_FIRST_MS = 500;
export const BACKOFF_MAX_MS = 15000;

/**
 * The delay before reconnect attempt number `attempt` (0 for the first):
 * half the ceiling plus a random share of the other half, so a crowd
 * cut off at once does not come back at once.
 */
export function reconnectDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Delay before the second retry of a polling request; doubles for each one after it. */
export const POLL_RETRY_MS = 500;

/**
 * The delay before retrying a polling request after `failures` failures in
 * a row: none before the first retry (a cut-off poll is simply repeated),
 * then doubling.
 */
export function pollRetryDelay(failures) {
  return failures <= 1 ? 0 : POLL_RETRY_MS * 2 ** (failures - 2);
}
