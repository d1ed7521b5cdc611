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
 * A leader whose page is frozen or hung keeps the lock without answering.
 * So a tab that asks the hub to open a link or carry a message also asks
 * for a sign of life (leader-watch.js); with none in LEADER_ANSWER_MS it
 * takes the lock (`steal`) and leads, and the rest goes as above. The
 * silent page, when it wakes, hears of the new hub (or finds its lock
 * gone), steps down and follows; tabs ignore what an older hub says.
 *
 * Messages on the channel: {dir: 'up', tab, t: 'open' | 'frame' | 'close'
 * | 'bye' | 'probe', vc, room, frame} from tabs to the hub; {dir: 'down',
 * tab, vc, hub, t: 'opened' | 'frame' | 'closed' | 'transport' | 'notice',
 * ...} from the hub to one vconn; {dir: 'alive', tab, hub} answering a
 * probe; {dir: 'hub', hub} when a hub starts; {dir: 'gone', hub} when it
 * hands over.
 *
 * Owns: this tab's id, its locks, its end of the channel, its
 * SharedTransports (vc -> transport), the newest hub's id, the watch on
 * the leader, and, while it leads, its leadership (leadership.js).
 * Must not touch: sessions, the DOM, storage; the real connections are the
 * hub's, made by the `connect` it was given.
 */

import { lead } from './leadership.js';
import { createLeaderWatch } from './leader-watch.js';
import { SharedTransport } from './shared-transport.js';

/** Whether `locks` (a LockManager) and `BroadcastChannel` are there to share with. */
export function canShare(locks, BroadcastChannelClass) {
  return typeof BroadcastChannelClass === 'function' && Boolean(locks) && typeof locks.request === 'function';
}

function randomId() {
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return `${words[0].toString(36)}${words[1].toString(36)}`;
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
  /** While leading: what leadership.js's lead() returned. */
  #leading = null;
  #away = false;
  /** The id of the newest hub heard of; what older hubs say is ignored. */
  #hub = null;
  /** Whether the leader answers (leader-watch.js). */
  #watch;

  constructor({ url, locks, BroadcastChannel, connect, page, clock }) {
    this.#names = {
      channel: `parley.tabs:${url}`,
      leader: `parley.leader:${url}`,
      tab: (id) => `parley.tab:${url}:${id}`,
    };
    this.#locks = locks;
    this.#Channel = BroadcastChannel;
    this.#connect = connect;
    this.#watch = createLeaderWatch({
      clock: clock || { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id) },
      probe: () => this.post({ t: 'probe' }),
      silent: () => this.#takeOver(),
    });
    this.#channel = new BroadcastChannel(this.#names.channel);
    this.#channel.onmessage = (event) => this.#heard(event.data);
    // Held for the tab's life: the hub learns the tab is gone when it can take it.
    locks.request(this.#names.tab(this.#id), () => new Promise(() => {
      this.#ready = true;
      for (const message of this.#waiting.splice(0)) this.post(message);
      this.#elect();
      if ([...this.#transports.values()].some((t) => t.state === 'opening')) this.#checkLeader();
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

  /**
   * Posts `message` to the hub (once this tab holds its own lock). Asking
   * to open a link or to carry a message also asks the leader for a sign
   * of life.
   */
  post(message) {
    if (!this.#ready) {
      this.#waiting.push(message);
      return;
    }
    this.#channel.postMessage({ dir: 'up', tab: this.#id, ...message });
    if (message.t === 'open' || (message.t === 'frame' && message.frame && message.frame.type === 'say')) {
      this.#checkLeader();
    }
  }

  #checkLeader() {
    if (this.#ready && !this.#leading && !this.#away) this.#watch.check();
  }

  /**
   * The leader did not answer in time: its page is frozen or hung, and
   * still holds the leader lock. This tab takes the lock from it and leads;
   * its new hub resumes the members the silent one held (their old
   * connections are closed by the server, 4001), and when that page wakes
   * it finds its lock gone and steps down.
   */
  #takeOver() {
    if (this.#leading || this.#away) return;
    this.#elect(true);
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
    this.#watch.stop();
    if (this.#leading) {
      this.#stepDown(this.#id);
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

  /** Queues for the leader lock, or (`steal`) takes it from a silent leader. */
  #elect(steal = false) {
    let hub = null;
    const lead = () => {
      hub = this.#lead();
      return hub ? hub.held : undefined;
    };
    const asked = steal
      ? this.#locks.request(this.#names.leader, { steal: true }, lead)
      : this.#locks.request(this.#names.leader, lead);
    // Rejected when another tab took the lock from this one (it found this
    // page silent): step down, and queue again for when that one goes.
    Promise.resolve(asked).catch(() => {
      if (!hub || this.#leading !== hub) return;
      this.#stepDown(null);
      if (!this.#away) this.#elect();
    });
  }

  /** Stops leading (see leadership.js); `own` is a tab whose rooms are left. */
  #stepDown(own) {
    const leading = this.#leading;
    this.#leading = null;
    leading.stepDown(own);
  }

  /**
   * This tab got the leader lock: run the hub until the page goes away or
   * another tab takes the lock. Returns what #leading holds, or null.
   */
  #lead() {
    if (this.#away || this.#leading) return null;
    this.#watch.stop();
    const leading = lead({
      id: randomId(),
      channel: new this.#Channel(this.#names.channel),
      connect: this.#connect,
      self: this.#id,
      locks: this.#locks,
      tabLock: this.#names.tab,
    });
    this.#leading = leading;
    this.#hub = leading.id;
    return leading;
  }

  #heard(m) {
    if (!m) return;
    if (m.dir === 'hub') {
      this.#hub = m.hub;
      this.#watch.heard();
      if (this.#leading && this.#leading.id !== m.hub) {
        // Another tab took the lock from this one while its page was silent.
        this.#stepDown(null);
        if (!this.#away) this.#elect();
      }
    } else if (m.dir === 'down' || m.dir === 'alive') {
      if (this.#hub === null) this.#hub = m.hub;
      // A hub that was silent and has been replaced may wake and speak: not to us.
      if (m.hub !== this.#hub) return;
      this.#watch.heard();
    }
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
export function tabLink({ url, locks, BroadcastChannel, connect, page, clock }) {
  let byUrl = links.get(locks);
  if (!byUrl) {
    byUrl = new Map();
    links.set(locks, byUrl);
  }
  if (!byUrl.has(url)) byUrl.set(url, new TabLink({ url, locks, BroadcastChannel, connect, page, clock }));
  return byUrl.get(url);
}
