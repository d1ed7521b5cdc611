// The poll-answer judge and one polling request.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import {
  SESSION_HEADER, askServer, endPollSession, judgePollAnswer, pollRequest, serverAnswers,
} from '../../clients/js/transport/poll-http.js';
import { FakeClock, FakeServer, settle } from './fakes.mjs';

const error = (code, message) => ({ error: { code, message } });

test('no answer at all is a plain retry that counts as a failure', () => {
  assert.deepEqual(judgePollAnswer(null), {});
});

test('an expired session closes with 4002, so the page resumes', () => {
  assert.deepEqual(
    judgePollAnswer({ status: 404, body: error('unknown_session', 'no such session; open a new one') }),
    { close: 4002, reason: 'no such session; open a new one' },
  );
});

test('any other 404 is an abnormal close', () => {
  assert.deepEqual(judgePollAnswer({ status: 404, body: error('not_found', 'no such resource') }),
    { close: 1006, reason: 'no such resource' });
  assert.deepEqual(judgePollAnswer({ status: 404, body: null }), { close: 1006, reason: 'HTTP 404' });
});

test('429 waits for Retry-After, in seconds, and is not a failure', () => {
  assert.deepEqual(judgePollAnswer({ status: 429, body: null, retryAfter: '3' }), { after: 3000, free: true });
  assert.deepEqual(judgePollAnswer({ status: 429, body: null, retryAfter: '0.5' }), { after: 500, free: true });
  for (const retryAfter of [null, '', '0', '-2', 'soon']) {
    assert.deepEqual(judgePollAnswer({ status: 429, body: null, retryAfter }), { after: 1000, free: true }, String(retryAfter));
  }
});

test('413, 403 and 400 close with 1009, 1008 and 1002 and the server\'s reason', () => {
  assert.deepEqual(judgePollAnswer({ status: 413, body: error('body_too_large', 'too big') }), { close: 1009, reason: 'too big' });
  assert.deepEqual(judgePollAnswer({ status: 403, body: error('transport_disabled', 'nope') }), { close: 1008, reason: 'nope' });
  assert.deepEqual(judgePollAnswer({ status: 400, body: error('bad_frame', 'bad') }), { close: 1002, reason: 'bad' });
  assert.deepEqual(judgePollAnswer({ status: 400, body: { error: { message: 7 } } }), { close: 1002, reason: 'HTTP 400' });
});

test('a proxy\'s 502 or 504, or a 500, is a plain retry', () => {
  for (const status of [500, 502, 503, 504]) {
    assert.deepEqual(judgePollAnswer({ status, body: null }), {}, String(status));
  }
});

test('a request carries the session header and JSON body, and parses the answer', async () => {
  const server = new FakeServer();
  const pending = pollRequest(server.fetch, '/chat', 'POST', '/poll/send', { session: 'tok', body: '{"type":"ping"}' });
  const request = server.take('POST', '/chat/poll/send');
  assert.equal(request.headers[SESSION_HEADER], 'tok');
  assert.equal(request.headers['Content-Type'], 'text/plain;charset=UTF-8', 'no preflight for the opening POST');
  assert.equal(request.body, '{"type":"ping"}');
  request.answer(429, error('rate_limited', 'slow down'), { 'Retry-After': '2' });
  assert.deepEqual(await pending, { status: 429, body: error('rate_limited', 'slow down'), retryAfter: '2' });
});

test('an answer that is not JSON has a null body; no answer is null', async () => {
  const server = new FakeServer();
  const first = pollRequest(server.fetch, '', 'GET', '/poll?cursor=4');
  const request = server.take('GET', '/poll?cursor=4');
  assert.equal(request.headers[SESSION_HEADER], undefined);
  assert.equal(request.headers['Content-Type'], undefined);
  request.answer(502);
  assert.deepEqual(await first, { status: 502, body: null, retryAfter: null });
  const second = pollRequest(server.fetch, '', 'GET', '/poll?cursor=4');
  server.take('GET', '/poll?cursor=4').drop();
  assert.equal(await second, null);
});

test('ending a session posts /poll/close with keepalive and ignores failure', async () => {
  const server = new FakeServer();
  endPollSession(server.fetch, '/chat', 'tok');
  const request = server.take('POST', '/chat/poll/close');
  assert.equal(request.headers[SESSION_HEADER], 'tok');
  assert.equal(request.keepalive, true);
  request.drop();
  await settle();
  endPollSession(() => { throw new Error('offline'); }, '', 'tok');
});

test('the server answers HTTP when its probe says ok, or gives its JSON error', async () => {
  const clock = new FakeClock();
  const server = new FakeServer();
  const yes = serverAnswers(server.fetch, '', clock, 4000);
  server.take('GET', '/poll/probe').answer(200, { status: 'ok' });
  assert.equal(await yes, true);

  const older = serverAnswers(server.fetch, '', clock, 4000);
  server.take('GET', '/poll/probe').answer(404, error('not_found', 'no such page'));
  assert.equal(await older, true, 'a server without the probe still answers');

  const someOk = serverAnswers(server.fetch, '', clock, 4000);
  server.take('GET', '/poll/probe').answer(200, { hello: 'world' });
  assert.equal(await someOk, false, 'a 200 from something else is not the server');

  const proxyPage = serverAnswers(server.fetch, '', clock, 4000);
  server.take('GET', '/poll/probe').answer(502);
  assert.equal(await proxyPage, false);

  const silent = serverAnswers(server.fetch, '', clock, 4000);
  await clock.advance(3999);
  assert.equal(server.take('GET', '/poll/probe').aborted, false);
  await clock.advance(1);
  assert.equal(await silent, false);
  assert.equal(server.requests.at(-1).aborted, true);

  const refused = askServer(server.fetch, '', clock, 4000);
  server.take('GET', '/poll/probe').answer(403, { error: { code: 'origin_not_allowed', message: 'no', hint: 'start with --public-url' } });
  assert.deepEqual(await refused, { answers: true, refused: 'start with --public-url' });
  const plain = askServer(server.fetch, '', clock, 4000);
  server.take('GET', '/poll/probe').answer(404, error('unknown_session', 'no such session'));
  assert.deepEqual(await plain, { answers: true, refused: null });
});
