// The rules that make the message list read as a conversation: grouping
// (timeline.js), the date lines' wording, the "new messages" divider and
// jump button (unread.js), and who is coming back after a reconnect
// (returning.js). All pure; times are local, as the page shows them.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  GROUP_WINDOW_MS, continues, dayKey, dayLabel,
} from '../../assets/js/timeline.js';
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
