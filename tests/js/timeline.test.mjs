// The rules that make the message list read as a conversation: grouping
// (timeline.js), the date lines' wording, the "new messages" divider and
// jump button (unread.js), and who is coming back after a reconnect
// (returning.js). All pure; times are local, as the page shows them.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  GROUP_WINDOW_MS, continues, dayKey, dayLabel, msUntilNextDay,
} from '../../assets/js/timeline.js';
import { createDayTurn } from '../../assets/js/day-turn.js';
import { FakeClock } from './fakes.mjs';
import { UnreadMarker, jumpText } from '../../assets/js/unread.js';
import { RETURN_GRACE_MS, Returning } from '../../assets/js/returning.js';

const at = (y, mo, d, h = 12, mi = 0) => new Date(y, mo - 1, d, h, mi).getTime();

test('a sender\'s messages a few minutes apart on one day run on', () => {
  const first = { nick: 'ann', ts: at(2025, 3, 3, 10, 0) };
  assert.equal(continues(first, { nick: 'ann', ts: first.ts + 60_000 }), true);
  assert.equal(continues(first, { nick: 'ann', ts: first.ts + GROUP_WINDOW_MS - 1 }), true);
  assert.equal(continues(first, { nick: 'ann', ts: first.ts + GROUP_WINDOW_MS }), false, 'five minutes starts a new group');
  assert.equal(continues(first, { nick: 'bob', ts: first.ts + 1000 }), false, 'another sender');
  assert.equal(continues(first, { nick: 'Ann', ts: first.ts + 1000 }), false, 'names are compared as the server sends them');
  assert.equal(continues(first, { nick: 'ann', ts: first.ts - 1000 }), true, 'a clock a second behind still groups');
  assert.equal(continues(null, first), false, 'nothing above');
  assert.equal(continues({ nick: 'ann', ts: Number.NaN }, first), false);
});

test('a group does not cross midnight', () => {
  const late = { nick: 'ann', ts: at(2025, 3, 3, 23, 59) };
  const early = { nick: 'ann', ts: at(2025, 3, 4, 0, 1) };
  assert.equal(early.ts - late.ts < GROUP_WINDOW_MS, true);
  assert.equal(continues(late, early), false);
  assert.equal(dayKey(late.ts), '2025-03-03');
  assert.equal(dayKey(early.ts), '2025-03-04');
});

test('date lines say Today, Yesterday, the weekday within a week, else the date', () => {
  const now = at(2025, 3, 10, 9, 30); // a Monday
  assert.equal(dayLabel(at(2025, 3, 10, 0, 5), now), 'Today');
  assert.equal(dayLabel(at(2025, 3, 9, 23, 50), at(2025, 3, 10, 0, 0)), 'Yesterday', 'calendar days, not 24 hours');
  assert.equal(dayLabel(at(2025, 3, 9, 8, 0), now), 'Yesterday');
  assert.equal(dayLabel(at(2025, 3, 7), now), 'Friday 7 March');
  assert.equal(dayLabel(at(2025, 3, 4), now), 'Tuesday 4 March');
  assert.equal(dayLabel(at(2025, 3, 3), now), '3 March', 'a week ago is a date');
  assert.equal(dayLabel(at(2024, 12, 31), now), '31 December 2024', 'another year says which');
  assert.equal(dayLabel(at(2025, 3, 11), now), '11 March', 'a day ahead (a skewed clock) is a date, not "Today"');
});

test('the divider marks the first message of an unseen run; the button counts the run', () => {
  const marker = new UnreadMarker();
  assert.deepEqual(marker.arrived(true), { divider: false, unseen: 0 }, 'seen as it came');
  assert.deepEqual(marker.arrived(false), { divider: true, unseen: 1 });
  assert.deepEqual(marker.arrived(false), { divider: false, unseen: 2 });
  assert.deepEqual(marker.arrived(true), { divider: false, unseen: 2 }, 'the end in view again is not catching up until told');
  assert.equal(marker.caughtUp(), true, 'the button goes');
  assert.equal(marker.caughtUp(), false, 'nothing left to catch up on');
  assert.deepEqual(marker.arrived(false), { divider: true, unseen: 1 }, 'the next unseen run moves the divider');
  marker.ownMessage();
  assert.equal(marker.unseen, 0);
  assert.deepEqual(marker.arrived(false), { divider: true, unseen: 1 }, 'after a message of our own, a new divider');
  marker.reset();
  assert.equal(marker.unseen, 0);
});

test('the jump button\'s wording', () => {
  assert.equal(jumpText(1), '1 new message');
  assert.equal(jumpText(12), '12 new messages');
  assert.equal(jumpText(1234), '1,234 new messages');
});

test('after a drop, those present before are returning, once each, within the grace', () => {
  const back = new Returning();
  back.linkLost(['bob', 'cy', 'dee']);
  back.linkLost(['bob']); // a second drop before the rejoin keeps the room as last seen
  back.welcomed({ rejoin: true, present: ['ann', 'dee'], now: 1000 });
  assert.equal(back.isReturn('bob', 1000), true);
  assert.equal(back.isReturn('bob', 1001), false, 'once each');
  assert.equal(back.isReturn('dee', 1001), false, 'already in the welcome\'s roster');
  assert.equal(back.isReturn('eve', 1001), false, 'a newcomer');
  assert.equal(back.isReturn('cy', 1000 + RETURN_GRACE_MS), false, 'too late: they left and came again');
});

test('a welcome into another room forgets who was away', () => {
  const back = new Returning();
  back.linkLost(['bob']);
  back.welcomed({ rejoin: false, present: [], now: 0 });
  assert.equal(back.isReturn('bob', 1), false);
  const fresh = new Returning();
  assert.equal(fresh.isReturn('bob', 1), false, 'nothing lost, nobody returning');
});

test('the time until the next local midnight counts a 23- or 25-hour day', () => {
  const zone = process.env.TZ;
  try {
    process.env.TZ = 'Europe/London';
    const at = (y, m, d, h, min) => new Date(y, m - 1, d, h, min).getTime();
    assert.equal(msUntilNextDay(at(2024, 6, 1, 23, 59)), 60_000);
    assert.equal(msUntilNextDay(at(2024, 6, 1, 0, 0)), 86_400_000);
    // The clocks go forward on 31 March 2024 and back on 27 October.
    assert.equal(msUntilNextDay(at(2024, 3, 31, 0, 0)), 23 * 3_600_000);
    assert.equal(msUntilNextDay(at(2024, 10, 27, 0, 0)), 25 * 3_600_000);
  } finally {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  }
});

test('at local midnight the date lines are said again, and then each midnight after', async () => {
  const late = new Date(2024, 5, 1, 23, 58).getTime();
  const clock = new FakeClock(late);
  const said = [];
  const turn = createDayTurn({ io: clock, relabel: (now) => said.push(dayLabel(late, now)) });
  turn.start();
  assert.equal(clock.pending, 1, 'one timer, no polling');
  await clock.advance(119_999);
  assert.deepEqual(said, [], 'not before midnight');
  await clock.advance(1);
  assert.deepEqual(said, ['Yesterday'], 'a message of 23:58 is from yesterday at midnight');
  assert.equal(clock.pending, 1);
  await clock.advance(86_400_000);
  assert.equal(said.length, 2);
  assert.match(said[1], /^Saturday/, 'then its weekday');
  // Shown again after the browser held its timers back: said at once.
  turn.shown();
  assert.equal(said.length, 3);
  assert.equal(clock.pending, 1, 'still one timer');
  turn.stop();
  assert.equal(clock.pending, 0);
});
