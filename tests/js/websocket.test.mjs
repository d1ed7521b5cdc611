// The WebSocket transport with a fake WebSocket class.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';

import { WebSocketTransport, webSocketUrl } from '../../clients/js/transport/websocket.js';

class FakeSocket {
  static OPEN = 1;
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.made.push(this);
  }

  send(text) { this.sent.push(text); }
  close(code) { this.closedWith = code; }
}

function setUp() {
  FakeSocket.made = [];
  const transport = new WebSocketTransport('ws://example.test/chat/ws', FakeSocket);
  const seen = { opened: 0, frames: [], closes: [] };
  transport.onopen = () => { seen.opened += 1; };
  transport.onframe = (frame) => seen.frames.push(frame);
  transport.onclose = (info) => seen.closes.push(info);
  transport.connect();
  return { transport, seen, socket: FakeSocket.made[0] };
}

test('the URL follows the page\'s scheme, host and base path', () => {
  assert.equal(webSocketUrl({ protocol: 'http:', host: 'a.test:8080' }, ''), 'ws://a.test:8080/ws');
  assert.equal(webSocketUrl({ protocol: 'https:', host: 'a.test' }, '/chat'), 'wss://a.test/chat/ws');
});

test('it sends frames as JSON only once the socket is open', () => {
  const { transport, seen, socket } = setUp();
  assert.equal(socket.url, 'ws://example.test/chat/ws');
  assert.equal(transport.send({ type: 'ping' }), false);
  socket.readyState = 1;
  socket.onopen();
  assert.equal(seen.opened, 1);
  assert.equal(transport.send({ type: 'say', text: 'hi', ref: 'c1' }), true);
  assert.deepEqual(socket.sent, ['{"type":"say","text":"hi","ref":"c1"}']);
});

test('only text frames with a type reach the page', () => {
  const { seen, socket } = setUp();
  for (const data of ['{"type":"pong"}', 'garbage', '{"no":"type"}', new ArrayBuffer(2), '[1]', '{"type":"ack","ref":"c1"}']) {
    socket.onmessage({ data });
  }
  assert.deepEqual(seen.frames, [{ type: 'pong' }, { type: 'ack', ref: 'c1' }]);
});

test('a close from the server is reported with its code and reason', () => {
  const { transport, seen, socket } = setUp();
  socket.onclose({ code: 4001, reason: 'replaced' });
  assert.deepEqual(seen.closes, [{ code: 4001, reason: 'replaced' }]);
  assert.equal(transport.send({ type: 'ping' }), false);
});

test('closing from here detaches the socket first: no callback follows', () => {
  const { transport, seen, socket } = setUp();
  transport.close();
  assert.equal(socket.closedWith, 1000);
  assert.equal(socket.onclose, null);
  assert.equal(socket.onmessage, null);
  assert.deepEqual(seen.closes, []);
  transport.close();
});
