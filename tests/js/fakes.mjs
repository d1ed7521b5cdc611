// Fakes the client's modules are driven with in Node: a clock whose timers
// run only when a test advances it, a server answering fetch() on demand,
// and helpers to let promise chains run. Not a test file itself (the name
// does not end in .test.mjs).

/** Lets every pending promise continuation run. */
export async function settle() {
  for (let i = 0; i < 10; i += 1) await new Promise((resolve) => { setImmediate(resolve); });
}

/** Timers and Date.now() under the test's control. */
export class FakeClock {
  constructor(start = 1_000_000) {
    this.time = start;
    this.timers = new Map();
    this.lastId = 0;
    this.now = () => this.time;
    this.setTimeout = (fn, ms) => this.#add(fn, ms, 0);
    this.setInterval = (fn, ms) => this.#add(fn, ms, Math.max(1, ms || 0));
    this.clearTimeout = (id) => { this.timers.delete(id); };
    this.clearInterval = this.clearTimeout;
  }

  #add(fn, ms, every) {
    this.lastId += 1;
    this.timers.set(this.lastId, { at: this.time + Math.max(0, ms || 0), fn, every });
    return this.lastId;
  }

  /** Moves time on by `ms`, running each timer that falls due, in order. */
  async advance(ms) {
    const end = this.time + ms;
    await settle();
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next[1].at)) next = [id, timer];
      }
      if (next === null) break;
      const [id, timer] = next;
      this.time = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
      await settle();
    }
    this.time = end;
    await settle();
  }

  /** How many timers are waiting. */
  get pending() {
    return this.timers.size;
  }
}

/** A fetch() Response with `status`, a JSON `body` (none when undefined) and `headers`. */
export function response(status, body, headers = {}) {
  return {
    status,
    headers: { get: (name) => (Object.hasOwn(headers, name) ? String(headers[name]) : null) },
    json: async () => {
      if (body === undefined) throw new SyntaxError('Unexpected end of JSON input');
      return body;
    },
  };
}

/**
 * A server that holds every request until the test answers it. Each
 * request: {url, method, headers, body, keepalive, aborted, answer(status,
 * body, headers), drop()}.
 */
export class FakeServer {
  constructor() {
    this.requests = [];
    this.fetch = (url, init = {}) => new Promise((resolve, reject) => {
      const request = {
        url,
        method: init.method || 'GET',
        headers: init.headers || {},
        body: init.body,
        keepalive: Boolean(init.keepalive),
        answered: false,
        aborted: false,
        answer: (status, body, headers) => {
          request.answered = true;
          resolve(response(status, body, headers));
        },
        drop: () => {
          request.answered = true;
          reject(new TypeError('Failed to fetch'));
        },
      };
      if (init.signal) {
        init.signal.addEventListener('abort', () => {
          request.aborted = true;
          request.answered = true;
          reject(new DOMException('The operation was aborted.', 'AbortError'));
        });
      }
      this.requests.push(request);
    });
  }

  /** Requests not yet answered. */
  get waiting() {
    return this.requests.filter((request) => !request.answered);
  }

  /** The one unanswered request to `method url`; throws when there is not exactly one. */
  take(method, url) {
    const found = this.waiting.filter((request) => request.method === method && request.url === url);
    if (found.length !== 1) {
      const seen = this.waiting.map((request) => `${request.method} ${request.url}`).join(', ');
      throw new Error(`expected one ${method} ${url} waiting, found ${found.length} (waiting: ${seen || 'none'})`);
    }
    return found[0];
  }
}

/**
 * The transports of one client, made and driven by hand (a ParleyClient's
 * `transports` factory is `() => link.make()`). Every frame any of them
 * sends lands in `sent`, in order; `current` is the newest.
 */
export class FakeLink {
  constructor() {
    this.sent = [];
    this.made = 0;
    this.current = null;
  }

  /** A new transport, which becomes `current`. */
  make() {
    const link = this;
    const transport = {
      isOpen: false,
      closed: false,
      onopen: () => {},
      onframe: () => {},
      onclose: () => {},
      onnotice: () => {},
      connect() {},
      send(frame) {
        if (!transport.isOpen) return false;
        link.sent.push(frame);
        return true;
      },
      close() { transport.isOpen = false; transport.closed = true; },
      /** The server accepted it. */
      open() { transport.isOpen = true; transport.onopen(); },
    };
    this.made += 1;
    this.current = transport;
    return transport;
  }

  /** A frame from the server on the current transport. */
  deliver(frame) {
    this.current.onframe(frame);
  }

  /** The current transport drops with `code`. */
  drop(code, reason = '') {
    const transport = this.current;
    transport.isOpen = false;
    transport.closed = true;
    transport.onclose({ code, reason });
  }

  /**
   * A fresh link opens for `client`: the current one is dropped if it is
   * open, and the client is told to reconnect now (skipping its backoff).
   */
  openAnew(client) {
    if (this.current && this.current.isOpen) this.drop(1006);
    if (!this.current || this.current.closed) client.reconnect();
    this.current.open();
  }
}

/**
 * The BroadcastChannels of one origin's tabs. `tab()` is the
 * BroadcastChannel class of one tab: a message posted on a channel
 * reaches every other open channel of the same name, of any tab (the
 * poster's own tab included), later and as a structured clone.
 */
export class FakeChannels {
  constructor() {
    this.open = new Set();
    /** A frozen tab's channels -> what they will hear when it thaws. */
    this.frozen = new Map();
  }

  tab() {
    const world = this;
    const mine = new Set();
    class Channel {
      constructor(name) {
        this.name = name;
        this.onmessage = null;
        this.closed = false;
        world.open.add(this);
        mine.add(this);
      }

      postMessage(data) {
        if (this.closed) throw new Error('InvalidStateError: the channel is closed');
        const copy = structuredClone(data);
        for (const other of world.open) {
          if (other === this || other.name !== this.name) continue;
          const deliver = () => { if (!other.closed && other.onmessage) other.onmessage({ data: copy }); };
          setImmediate(() => {
            const held = [...world.frozen].find(([tab]) => tab.has(other));
            if (held) held[1].push(deliver);
            else deliver();
          });
        }
      }

      close() {
        this.closed = true;
        world.open.delete(this);
      }
    }
    /** The tab is gone: its channels hear nothing more. */
    Channel.closeAll = () => { for (const channel of mine) channel.close(); };
    /** The tab's page is frozen: what its channels hear waits until `thaw()`. */
    Channel.freeze = () => { world.frozen.set(mine, []); };
    Channel.thaw = () => {
      const held = world.frozen.get(mine) || [];
      world.frozen.delete(mine);
      for (const deliver of held) deliver();
    };
    return Channel;
  }
}

/**
 * Web Locks shared by one origin's tabs. `tab()` is one tab's LockManager
 * ({request(name, [options], callback)}); a lock is held until the
 * promise its callback returned settles, or its tab is closed (`close()`
 * on that manager), and then passes to the next request waiting for it.
 */
export class FakeLocks {
  constructor() {
    /** name -> the request holding it. */
    this.held = new Map();
    /** name -> requests waiting, in order. */
    this.queues = new Map();
  }

  tab() {
    const owner = { closed: false };
    return {
      request: (name, options, callback) => (typeof options === 'function'
        ? this.#request(owner, name, options, {})
        : this.#request(owner, name, callback, options)),
      close: () => this.#close(owner),
    };
  }

  /** Who holds `name` (a tab's manager's owner), or undefined. */
  holder(name) {
    const request = this.held.get(name);
    return request && request.owner;
  }

  #request(owner, name, callback, { steal = false }) {
    return new Promise((resolve, reject) => {
      if (owner.closed) return;
      if (!this.queues.has(name)) this.queues.set(name, []);
      const request = { owner, callback, resolve, reject };
      if (steal) {
        // The holder's request is rejected (AbortError) and its lock released at once.
        const holder = this.held.get(name);
        if (holder) {
          this.held.delete(name);
          holder.reject(new Error('AbortError: the lock was stolen'));
        }
        this.queues.get(name).unshift(request);
      } else {
        this.queues.get(name).push(request);
      }
      this.#grant(name);
    });
  }

  #grant(name) {
    if (this.held.has(name)) return;
    const queue = this.queues.get(name) || [];
    const next = queue.shift();
    if (!next) return;
    this.held.set(name, next);
    Promise.resolve()
      .then(() => next.callback({ name }))
      .then(next.resolve, next.reject)
      .finally(() => this.#release(name, next));
  }

  #release(name, request) {
    if (this.held.get(name) !== request) return;
    this.held.delete(name);
    this.#grant(name);
  }

  #close(owner) {
    owner.closed = true;
    for (const [name, queue] of this.queues) {
      this.queues.set(name, queue.filter((request) => request.owner !== owner));
    }
    for (const [name, request] of [...this.held]) {
      if (request.owner === owner) this.#release(name, request);
    }
  }
}
