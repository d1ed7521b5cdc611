/*
 * The leader tab's side of the channel (tab-link.js): while this tab holds
 * the leader lock it runs the hub (hub.js) on a channel of its own, under
 * a fresh id. It announces itself ({dir: 'hub'}), answers a probe at once
 * ({dir: 'alive'}: the sign of life a waiting tab looks for), hands every
 * other message to the hub, and watches each tab it hears from by that
 * tab's own lock, which it is granted once the tab is gone (closed or
 * crashed without a word). Stepping down hands the connections over and
 * says so ({dir: 'gone'}).
 *
 * Owns: the hub, its id and channel, the tabs it watches, and the promise
 * that keeps the leader lock held.
 * Must not touch: this tab's own transports or the election (tab-link.js
 * decides when to lead and when to step down).
 */

import { createHub } from './hub.js';

/**
 * Starts leading. Arguments: `id` (the hub's), `channel` (a new
 * BroadcastChannel of the tabs' name), `connect` (the hub's real
 * connections), `self` (this tab's id), `locks` and `tabLock(tab)` (the
 * name of a tab's own lock). Returns {id, held, stepDown(own)}: the lock
 * is held until `held` settles.
 */
export function lead({
  id, channel, connect, self, locks, tabLock,
}) {
  let leading = true;
  const hub = createHub({
    connect,
    tell: (tab, message) => channel.postMessage({ dir: 'down', tab, hub: id, ...message }),
  });
  const watched = new Set();
  channel.onmessage = (event) => {
    const m = event.data;
    if (!m || m.dir !== 'up' || !leading) return;
    if (m.t === 'bye') {
      hub.dropTab(m.tab);
      return;
    }
    if (m.t === 'probe') {
      channel.postMessage({ dir: 'alive', tab: m.tab, hub: id });
      return;
    }
    if (m.tab !== self && !watched.has(m.tab)) {
      watched.add(m.tab);
      locks.request(tabLock(m.tab), () => {
        watched.delete(m.tab);
        if (leading) hub.dropTab(m.tab);
      });
    }
    hub.receive(m.tab, m);
  };
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  channel.postMessage({ dir: 'hub', hub: id });

  return {
    id,
    held,
    /**
     * Stops leading: every connection the hub holds is handed over (for
     * the next leader to resume) but those only tab `own` used, which are
     * left; the tabs hear that this hub is gone; the lock goes.
     */
    stepDown(own) {
      if (!leading) return;
      leading = false;
      hub.handOver(own);
      channel.postMessage({ dir: 'gone', hub: id });
      channel.close();
      release();
    },
  };
}
