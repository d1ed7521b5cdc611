/*
 * One browser's tabs sharing their connections to one Parley server. Each
 * tab holds a lock of its own (so the others can tell when it is gone) and
 * queues for the server's leader lock (Web Locks); the tab holding it runs
 * the hub (hub.js), which holds the real connections, one per room in use.
 * Every tab's clients, the leader's own included, reach the hub over a
 * BroadcastChannel named after the server, through SharedTransports: a
 * transport like the WebSocket and polling ones (connect, send, close,
 * onopen, onframe, onclose, onnotice), plus ontransport(name, why), which
 * says which real transport carries it.
 *
 * When the leader tab goes away (pagehide) its hub hands the connections
 * over: closed without their members leaving (WebSocket close 4100; a
 * polling session is simply no longer polled). The lock passes to another
 * tab, whose new hub announces itself; every SharedTransport of the old
 * hub closes with CLOSE.HANDOVER, its client reconnects at once and
 * rejoins with its resume token and cursor, and the first such rejoin
 * takes the member's place back on a new connection (PROTOCOL.md 7.4):
 * nobody sees it leave or join.
 *
 * Messages on the channel: {dir: 'up', tab, t: 'open' | 'frame' | 'close'
 * | 'bye', vc, room, frame} from tabs to the hub; {dir: 'down', tab, vc,
 * hub, t: 'opened' | 'frame' | 'closed' | 'transport' | 'notice', ...} from
 * the hub to one vconn; {dir: 'hub', hub} when a hub starts; {dir: 'gone',
 * hub} when it hands over.
 *
 * Owns: this tab's id, its locks, its end of the channel, its
 * SharedTransports (vc -> transport), and the hub while it leads.
 * Must not touch: sessions, the DOM, storage; the real connections are the
 * hub's, made by the `connect` it was given.
 */

import { CLOSE } from './protocol.js';
import { createHub } from './hub.js';

/** Whether `locks` (a LockManager) and `BroadcastChannel` are there to share with. */
export function canShare(locks, BroadcastChannelClass) {
  return typeof BroadcastChannelClass === 'function' && Boolean(locks) && typeof locks.request === 'function';
}

function randomId() {
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return `${words[0].toString(36)}${words[1].toString(36)}`;
}

/** A transport carried by the hub of whichever tab leads. */
class SharedTransport {
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

class TabLink {
  #id = randomId();
  #names;
  #locks;
  #Channel;
  #connect;
  #channel;
  /** Whether this tab holds its own lock (until then, nothing is posted). */
  #ready = false;
  #waiting = [];
  /** vc -> SharedTransport. */
  #transports = new Map();
  #vcCounter = 0;
  /** While leading: {hub, id, channel, release, watched}. */
  #leading = null;
  #away = false;

  constructor({ url, locks, BroadcastChannel, connect, page }) {
    this.#names = {
      channel: `parley.tabs:${url}`,
      leader: `parley.leader:${url}`,
      tab: (id) => `parley.tab:${url}:${id}`,
    };
    this.#locks = locks;
    this.#Channel = BroadcastChannel;
    this.#connect = connect;
    this.#channel = new BroadcastChannel(this.#names.channel);
    this.#channel.onmessage = (event) => this.#heard(event.data);
    // Held for the tab's life: the hub learns the tab is gone when it can take it.
    locks.request(this.#names.tab(this.#id), () => new Promise(() => {
      this.#ready = true;
      for (const message of this.#waiting.splice(0)) this.post(message);
      this.#elect();
    }));
    if (page && typeof page.addEventListener === 'function') {
      page.addEventListener('pagehide', () => this.leave());
      page.addEventListener('pageshow', (event) => { if (event.persisted) this.back(); });
    }
  }

  /** A new transport for a client whose room is `room()`. */
  transport(room) {
    this.#vcCounter += 1;
    return new SharedTransport(this, this.#vcCounter, room);
  }

  attach(transport) {
    this.#transports.set(transport.vc, transport);
  }

  detach(transport) {
    if (this.#transports.get(transport.vc) === transport) this.#transports.delete(transport.vc);
  }

  /** Posts `message` to the hub (once this tab holds its own lock). */
  post(message) {
    if (!this.#ready) {
      this.#waiting.push(message);
      return;
    }
    this.#channel.postMessage({ dir: 'up', tab: this.#id, ...message });
  }

  /** Whether this tab runs the hub. */
  get leading() {
    return this.#leading !== null;
  }

  /**
   * The page is going away (pagehide): a leader hands its connections
   * over and lets the lock go; a follower says goodbye. This tab's
   * transports close (a page kept in the back/forward cache reconnects).
   */
  leave() {
    if (this.#away) return;
    this.#away = true;
    if (this.#leading) {
      const { hub, id, channel, release } = this.#leading;
      this.#leading = null;
      hub.handOver(this.#id);
      channel.postMessage({ dir: 'gone', hub: id });
      channel.close();
      release();
    } else {
      this.post({ t: 'bye' });
    }
    for (const transport of [...this.#transports.values()]) transport.end(1001, 'the page is going away');
  }

  /** The page came back from the back/forward cache. */
  back() {
    if (!this.#away) return;
    this.#away = false;
    this.#elect();
  }

  #elect() {
    this.#locks.request(this.#names.leader, () => this.#lead());
  }

  /** This tab got the leader lock: run the hub until the page goes away. */
  #lead() {
    if (this.#away) return undefined;
    const id = randomId();
    const channel = new this.#Channel(this.#names.channel);
    const hub = createHub({
      connect: this.#connect,
      tell: (tab, message) => channel.postMessage({ dir: 'down', tab, hub: id, ...message }),
    });
    const watched = new Set();
    channel.onmessage = (event) => {
      const m = event.data;
      if (!m || m.dir !== 'up' || this.#leading === null || this.#leading.hub !== hub) return;
      if (m.t === 'bye') {
        hub.dropTab(m.tab);
        return;
      }
      if (m.tab !== this.#id && !watched.has(m.tab)) {
        watched.add(m.tab);
        // Granted once that tab is gone (closed or crashed without a word).
        this.#locks.request(this.#names.tab(m.tab), () => {
          watched.delete(m.tab);
          if (this.#leading !== null && this.#leading.hub === hub) hub.dropTab(m.tab);
        });
      }
      hub.receive(m.tab, m);
    };
    return new Promise((release) => {
      this.#leading = { hub, id, channel, release, watched };
      channel.postMessage({ dir: 'hub', hub: id });
    });
  }

  #heard(m) {
    if (!m) return;
    if (m.dir === 'hub' || m.dir === 'gone') {
      for (const transport of [...this.#transports.values()]) transport.hubChanged(m.hub, m.dir === 'gone');
    } else if (m.dir === 'down' && m.tab === this.#id) {
      const transport = this.#transports.get(m.vc);
      if (transport) transport.receive(m);
    }
  }
}

/** TabLinks by LockManager (one per tab) and server URL. */
const links = new WeakMap();

/**
 * This tab's link to the server at `url` (made on first use; later
 * clients of the same server in the tab share it). Arguments: `locks` (a
 * LockManager), `BroadcastChannel`, `connect(room, events)` (a real
 * connection, for when this tab leads), `page` (an EventTarget whose
 * pagehide and pageshow events it follows, or null).
 */
export function tabLink({ url, locks, BroadcastChannel, connect, page }) {
  let byUrl = links.get(locks);
  if (!byUrl) {
    byUrl = new Map();
    links.set(locks, byUrl);
  }
  if (!byUrl.has(url)) byUrl.set(url, new TabLink({ url, locks, BroadcastChannel, connect, page }));
  return byUrl.get(url);
}
