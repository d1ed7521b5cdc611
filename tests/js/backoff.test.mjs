// Reconnect backoff ("equal jitter") and the polling retry delays.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  BACKOFF_FIRST_MS, BACKOFF_MAX_MS, pollRetryDelay, reconnectDelay,
} from '../../clients/js/backoff.js';

test('the first reconnect waits between half the first ceiling and all of it', () => {
  assert.equal(BACKOFF_FIRST_MS, 500);
  assert.equal(reconnectDelay(0, () => 0), 250);
  assert.equal(reconnectDelay(0, () => 0.5), 375);
  assert.equal(reconnectDelay(0, () => 0.999999), 500);
});

test('the ceiling doubles per attempt', () => {
  const floors = [0, 1, 2, 3, 4].map((attempt) => reconnectDelay(attempt, () => 0));
  assert.deepEqual(floors, [250, 500, 1000, 2000, 4000]);
  const tops = [0, 1, 2, 3, 4].map((attempt) => reconnectDelay(attempt, () => 1));
  assert.deepEqual(tops, [500, 1000, 2000, 4000, 8000]);
});

test('the ceiling stops at 15 s however many attempts failed', () => {
  assert.equal(BACKOFF_MAX_MS, 15000);
  for (const attempt of [5, 6, 10, 50, 2000]) {
    assert.equal(reconnectDelay(attempt, () => 0), 7500, `attempt ${attempt}`);
    assert.equal(reconnectDelay(attempt, () => 1), 15000, `attempt ${attempt}`);
  }
});

test('the jitter comes from the random number it is given', () => {
  const seen = new Set();
  for (const r of [0, 0.1, 0.2, 0.3]) seen.add(reconnectDelay(3, () => r));
  assert.deepEqual([...seen], [2000, 2200, 2400, 2600]);
});

test('a failed poll is repeated at once, then after 500 ms, doubling', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(pollRetryDelay), [0, 0, 500, 1000, 2000, 4000]);
});
