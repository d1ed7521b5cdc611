/*
 * Which transport a connection uses, and when it gives up on WebSocket
 * for long-polling. A WebSocket that closes without ever opening hands
 * over to long-polling only if the server still answers plain HTTP: when
 * it does not, it is down or restarting, polling would fail as well, and
 * giving up WebSocket over a restart would be wrong. Before WebSocket has
 * worked in this tab the first such failure hands over; after, only
 * WS_FAILURES_BEFORE_FALLBACK in a row do. The fallback is kept for the
 * tab (`remember`).
 *
 * The same probe tells a refused page why (a browser hides the status of
 * a refused upgrade), also with WebSocket forced, and also for a tab's
 * shared link that closed before opening (the leader's own probe may have
 * answered after that connection was given up).
 *
 * Owns: the transport name in use or next tried, why it is polling, whether
 * WebSocket has worked, and the count of its failures in a row.
 * Must not touch: the transport objects, the reconnect timer or the
 * connection's state: connection.js asks it and acts on its answers.
 */

import { firstTransport } from './transport-choice.js';

/** A WebSocket that has not opened after this long counts as failed. */
export const WS_OPEN_TIMEOUT_MS = 4000;
/**
 * Once WebSocket has worked in this tab, this many attempts in a row that
 * never open hand over to long-polling. Before it has worked, the first
 * failure does.
 */
export const WS_FAILURES_BEFORE_FALLBACK = 3;

/**
 * The choice of a connection with these arguments (createConnection's):
 * offered, forced, remembered, remember(name), probe().
 */
export function createTransportFallback({
  offered, forced = null, remembered = null, remember = () => {}, probe = async () => false,
}) {
  const first = firstTransport({ offered, forced, remembered });
  /** The transport to connect with; null when the server offers none this page speaks. */
  let name = first.name;
  /** Why the page is on long-polling without being asked to (shown as a tooltip). */
  let why = first.why;
  /** A WebSocket has opened in this tab. */
  let wsWorked = false;
  /** WebSocket attempts in a row that never opened while the server answered HTTP. */
  let wsFailures = 0;

  function canFallBack() {
    return name === 'websocket' && forced === null && offered.includes('polling');
  }

  return {
    get name() { return name; },
    get why() { return why; },
    canFallBack,

    /** Transport `chosen` opened. */
    opened(chosen) {
      if (chosen !== 'websocket') return;
      wsWorked = true;
      wsFailures = 0;
    },

    /**
     * Transport `chosen` closed without ever opening. Asks the probe
     * (WebSocket and shared links only), then calls `refuse(hint)` when
     * the server refuses this page, or `fallBack()` once it is time to
     * switch to long-polling (name, why and the memory are set by then);
     * neither once `settled()` (the link opened meanwhile, or stopped).
     */
    failedOpen(chosen, { settled, refuse, fallBack }) {
      if (chosen !== 'websocket' && chosen !== 'shared') return;
      probe().then((result) => {
        const answers = typeof result === 'object' && result !== null ? result.answers : result;
        const refused = typeof result === 'object' && result !== null ? result.refused : null;
        if (refused && !settled()) {
          refuse(refused);
          return;
        }
        if (!answers || !canFallBack() || settled()) return;
        wsFailures += 1;
        if (wsWorked && wsFailures < WS_FAILURES_BEFORE_FALLBACK) return;
        why = wsWorked ? `WebSocket failed ${wsFailures} times in a row` : 'WebSocket could not connect';
        name = 'polling';
        remember('polling');
        fallBack({ worked: wsWorked });
      });
    },
  };
}
