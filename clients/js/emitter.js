/*
 * Events for the client's users: on(name, fn), off(name, fn), once(name,
 * fn), and emit(name, detail) for the client itself. Listeners run at once,
 * in the order added, so what they see is the order things happened in.
 * A listener that throws does not stop the others or the client: its
 * error is rethrown on its own, where the platform reports it.
 *
 * Owns: the listeners.
 * Must not touch: anything else; it knows no event names.
 */

export class Emitter {
  /** name -> Set of listeners. */
  #listeners = new Map();

  /** Calls `fn(detail)` on every `name` event; returns a function that stops it. */
  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /** Stops calling `fn` on `name` events. */
  off(name, fn) {
    const set = this.#listeners.get(name);
    if (set) set.delete(fn);
  }

  /** Calls `fn(detail)` on the next `name` event only. */
  once(name, fn) {
    const stop = this.on(name, (detail) => {
      stop();
      fn(detail);
    });
    return stop;
  }

  /** Tells every listener of `name`. */
  emit(name, detail) {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(detail);
      } catch (error) {
        queueMicrotask(() => { throw error; });
      }
    }
  }
}
