/*
 * Callers waiting on one answer (a join's welcome, a rename): each call
 * gets a promise, and the answer settles them all at once. The promises
 * never report an unhandled rejection, since a caller may well ignore
 * them and listen to the events instead.
 *
 * Owns: the callers waiting, until they are settled.
 * Must not touch: anything else; it knows no frames or events.
 */

/** A promise whose rejection nobody need handle (callers may ignore it). */
export function quiet(executor) {
  const promise = new Promise(executor);
  promise.catch(() => {});
  return promise;
}

/** A list of callers waiting on the same answer. */
export function createWaiters() {
  /** [{resolve, reject}], in the order they asked. */
  let waiting = [];
  return {
    /** A promise settled with the next answer. */
    wait() {
      return quiet((resolve, reject) => waiting.push({ resolve, reject }));
    },

    /** Rejects every caller with `error`, or else resolves each with `value`. */
    settle(error, value) {
      const waiters = waiting;
      waiting = [];
      for (const waiter of waiters) {
        if (error) waiter.reject(error);
        else waiter.resolve(value);
      }
    },
  };
}
