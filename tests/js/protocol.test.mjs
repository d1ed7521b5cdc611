// Frames to text and back, and the join frame.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  CLOSE, PROTOCOL_VERSION, encodeFrame, isFrame, isJoinError, joinFrame, parseFrame,
} from '../../clients/js/protocol.js';

test('a frame is parsed from its JSON text', () => {
  assert.deepEqual(parseFrame('{"type":"message","id":3,"text":"hi"}'), { type: 'message', id: 3, text: 'hi' });
  assert.equal(parseFrame(encodeFrame({ type: 'ack', ref: 'c1' })).ref, 'c1');
});

test('text that is not a frame is null, never an exception', () => {
  for (const text of ['', 'not json', '{"type":', '42', '"welcome"', 'null', '[]', '{}', '{"type":7}']) {
    assert.equal(parseFrame(text), null, text);
  }
  assert.equal(parseFrame(new ArrayBuffer(4)), null);
  assert.equal(parseFrame(undefined), null);
});

test('isFrame wants a string type', () => {
  assert.equal(isFrame({ type: 'pong' }), true);
  assert.equal(isFrame({ type: 1 }), false);
  assert.equal(isFrame(null), false);
  assert.equal(isFrame('pong'), false);
});

test('a first join names the version, nickname and room only', () => {
  assert.deepEqual(joinFrame({ nick: 'ann', room: 'lobby' }), { type: 'join', v: PROTOCOL_VERSION, nick: 'ann', room: 'lobby' });
  assert.equal(PROTOCOL_VERSION, 1);
});

test('a rejoin carries since with its epoch, and resume whenever there is one', () => {
  assert.deepEqual(
    joinFrame({ nick: 'ann', room: 'lobby', since: 12, epoch: 'e1', resume: 'tok' }),
    { type: 'join', v: 1, nick: 'ann', room: 'lobby', since: 12, epoch: 'e1', resume: 'tok' },
  );
  // No since: no epoch either, even when known.
  assert.deepEqual(
    joinFrame({ nick: 'ann', room: 'kitchen', epoch: 'e1', resume: 'tok' }),
    { type: 'join', v: 1, nick: 'ann', room: 'kitchen', resume: 'tok' },
  );
  assert.equal(joinFrame({ nick: 'a', room: 'r', since: 0 }).since, 0);
});

test('join errors are the six that answer a join', () => {
  for (const code of ['invalid_nick', 'nick_taken', 'invalid_room', 'too_many_rooms', 'room_full', 'unsupported_version']) {
    assert.equal(isJoinError(code), true, code);
  }
  for (const code of ['rate_limited', 'not_joined', 'degraded', 'bad_frame', undefined]) {
    assert.equal(isJoinError(code), false, String(code));
  }
});

test('close codes are WebSocket\'s and the protocol\'s own', () => {
  assert.deepEqual(
    [CLOSE.PROTOCOL, CLOSE.ABNORMAL, CLOSE.POLICY, CLOSE.TOO_BIG, CLOSE.TRY_LATER, CLOSE.REPLACED, CLOSE.EXPIRED],
    [1002, 1006, 1008, 1009, 1013, 4001, 4002],
  );
  assert.throws(() => { 'use strict'; CLOSE.ABNORMAL = 1; }, TypeError);
});
