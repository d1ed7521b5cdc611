/*
 * A transport carried by the hub of whichever tab leads (tab-link.js):
 * like the WebSocket and polling ones (connect, send, close, onopen,
 * onframe, onclose, onnotice), plus ontransport(name, why), which says
 * which real transport carries it. It speaks to the hub only through its
 * tab's link (`post`, `attach`, `detach`), which hands it what the current
 * hub says to it.
 *
 * Owns: its state (idle, opening, open, closed) and the id of the hub that
 * opened it.
 * Must not touch: the channel, the locks, the session or the DOM.
 */

import { CLOSE } from './protocol.js';

export class SharedTransport {
  constructor(link, vc, room) {
    this.link = link;
    this.vc = vc;
    this.room = room;
    /** idle, opening, open, closed. */
    this.state = 'idle';
    /** The hub that opened it. */
    this.hub = null;
    this.onopen = () => {};
    this.onframe = () => {};
    this.onclose = () => {};
    this.onnotice = () => {};
    this.ontransport = () => {};
  }

  connect() {
    this.state = 'opening';
    this.link.attach(this);
    this.ask();
  }

  /** Asks whichever hub there is to open it (again after a new hub starts). */
  ask() {
    this.link.post({ t: 'open', vc: this.vc, room: this.room() });
  }

  send(frame) {
    if (this.state !== 'open') return false;
    this.link.post({ t: 'frame', vc: this.vc, frame });
    return true;
  }

  close() {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.link.detach(this);
    this.link.post({ t: 'close', vc: this.vc });
  }

  /** Ends it from this side and tells its client why. */
  end(code, reason = '') {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.link.detach(this);
    this.onclose({ code, reason });
  }

  /** A message from the hub. */
  receive(m) {
    if (m.t === 'opened') {
      if (this.state !== 'opening') return;
      this.state = 'open';
      this.hub = m.hub;
      this.ontransport(m.transport, m.why);
      for (const text of m.notices || []) this.onnotice(text);
      this.onopen();
    } else if (m.t === 'frame') {
      if (this.state === 'open') this.onframe(m.frame);
    } else if (m.t === 'transport') {
      this.ontransport(m.name, m.why);
    } else if (m.t === 'notice') {
      this.onnotice(m.text);
    } else if (m.t === 'closed') {
      this.end(m.code, m.reason);
    }
  }

  /** Hub `hub` started (`gone` false) or handed over (`gone` true). */
  hubChanged(hub, gone) {
    if (this.state === 'opening' && !gone) this.ask();
    const ours = this.hub === hub;
    if (this.state === 'open' && (gone ? ours : !ours)) this.end(CLOSE.HANDOVER, 'handover');
  }
}
