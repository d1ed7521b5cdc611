/*
 * The WebSocket transport: one socket to {base}/ws carrying JSON frames.
 * It has the same face as the polling transport (see transport/polling.js):
 * connect(), send(frame) -> bool, close(), handOver(), and the callbacks
 * onopen(), onframe(frame), onclose({code, reason}).
 *
 * Owns: its socket.
 * Must not touch: the DOM, storage, or the page's state. The WebSocket
 * class is a constructor argument (the browser's by default) so Node tests
 * can hand it a fake.
 */

import { CLOSE, encodeFrame, parseFrame } from '../protocol.js';

/** The WebSocket URL of a server mounted at `base` on the page's own origin. */
export function webSocketUrl(location, base) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${base}/ws`;
}

export class WebSocketTransport {
  constructor(url, WebSocketClass = globalThis.WebSocket) {
    this.url = url;
    this.WebSocket = WebSocketClass;
    this.ws = null;
    this.onopen = () => {};
    this.onframe = () => {};
    this.onclose = () => {};
  }

  connect() {
    const ws = new this.WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => this.onopen();
    ws.onmessage = (event) => {
      // Text that is not a frame is ignored, as is anything binary.
      const frame = parseFrame(event.data);
      if (frame) this.onframe(frame);
    };
    ws.onclose = (event) => {
      this.ws = null;
      this.onclose({ code: event.code, reason: event.reason });
    };
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== this.WebSocket.OPEN) return false;
    this.ws.send(encodeFrame(frame));
    return true;
  }

  close(code = 1000, reason = undefined) {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(code, reason);
    }
  }

  /** Closes asking the server to keep our place for a resume from another tab. */
  handOver() {
    this.close(CLOSE.HANDOVER, 'handover');
  }
}
