/*
 * The plumbing between a client's connection, its session and the events
 * its users see: a link opening or closing goes to the session and comes
 * out as `open`, `close` and `status` events, every frame goes to the
 * session (and out as a `frame` event), and what the session reports goes
 * out as it is. A handover of the shared connection to another leader tab
 * (a close with CLOSE.HANDOVER, then the rejoin) is hidden from the users:
 * no `open`, `close` or `status` until the rejoin's welcome, which says
 * `handover: true`.
 *
 * Owns: the status last told ({state, detail, attempt, retryAt}) and
 * whether a handover is under way.
 * Must not touch: the session's or the connection's state (it calls the
 * session's linkOpened, linkClosed and handle, and reads whether it
 * awaits a welcome), the DOM, or the network.
 */

import { CLOSE } from './protocol.js';

/**
 * The plumbing of one client. `emit(name, detail)` tells its users;
 * `session()` is its session (made after its connection); `transport()`
 * the name of the transport in use.
 */
export function createClientEvents({ emit, session, transport }) {
  let status = { state: 'idle', detail: undefined, attempt: 0, retryAt: 0 };
  /** Shared: the leader tab went away, and the rejoin on the next has not been welcomed. */
  let handingOver = false;

  return {
    /** The `events` of the client's connection (connection.js). */
    connection: {
      opened: () => {
        if (!handingOver) emit('open', { transport: transport() });
        session().linkOpened();
        // Not joined: there is no welcome to wait for.
        if (!session().awaitingWelcome) handingOver = false;
      },
      frame: (frame) => {
        emit('frame', frame);
        session().handle(frame);
      },
      closed: ({ code, reason }) => {
        const wasJoined = session().linkClosed(code);
        if (code === CLOSE.HANDOVER) {
          // Another tab takes over the shared connection: the client
          // rejoins at once, and its users see nothing of it.
          handingOver = true;
          return;
        }
        handingOver = false;
        emit('close', {
          code, reason: reason || '', wasJoined, replaced: code === CLOSE.REPLACED,
        });
      },
      refused: (hint) => emit('error', {
        code: 'origin_not_allowed', message: hint, hint, fatal: true,
      }),
      state: ({ kind, detail, attempt, retryAt }) => {
        if (handingOver) return;
        status = { state: kind, detail, attempt, retryAt };
        emit('status', { ...status, transport: transport() });
      },
      transport: (name, why) => emit('transport', { name, why }),
      notice: (text) => emit('notice', { text }),
    },

    /** What the session reports, for the users. */
    fromSession(name, detail) {
      if (name === 'welcome') {
        // The rejoin after another tab took over the shared connection.
        detail.handover = handingOver;
        handingOver = false;
      }
      emit(name, detail);
    },

    /** {state, detail, attempt, retryAt}, as last told. */
    get status() { return { ...status }; },
  };
}
