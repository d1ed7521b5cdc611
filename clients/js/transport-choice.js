/*
 * Which transport a connection uses: those the server announces that this
 * client implements, the one a page forces (no fallback then), and the
 * one a connection starts on, given the tab's earlier fallback.
 *
 * Owns: nothing mutable; pure functions.
 * Must not touch: storage (the caller recalls and remembers the
 * fallback, memory.js), the network or the DOM.
 */

/**
 * The transports the server announces (comma-separated, preferred first;
 * WebSocket when it announces none) that the page implements.
 */
export function offeredTransports(announced, implemented) {
  return (announced || 'websocket')
    .split(',').map((name) => name.trim()).filter((name) => implemented.includes(name));
}

/** The transport ?transport=NAME asks for, when offered: no fallback then. */
export function forcedTransport(asked, offered) {
  return asked && offered.includes(asked) ? asked : null;
}

/**
 * The transport a connection starts on, {name, why}: the forced one, the
 * tab's earlier fallback, or the first offered (null when none); `why`
 * says why it is long-polling without being asked to, or is ''.
 */
export function firstTransport({ offered, forced = null, remembered = null }) {
  return {
    name: forced || remembered || offered[0] || null,
    why: !forced && remembered === 'polling' ? 'WebSocket failed earlier in this tab' : '',
  };
}
