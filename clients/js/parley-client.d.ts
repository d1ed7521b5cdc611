// Types of parley-client (parley-client.js). The library is plain
// JavaScript; this file is for editors and TypeScript users, and
// docs/CLIENT.md says the same in words.

/** A transport name. */
export type TransportName = 'websocket' | 'polling';

/** The connection's state. */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline';

/** A frame, as the server sends it or the client sends it (PROTOCOL.md 3 and 4). */
export interface Frame {
  type: string;
  [member: string]: unknown;
}

/**
 * Anything that carries frames both ways. WebSocketTransport and
 * PollingTransport are two; the link a tab shares with the browser's
 * other tabs (tab-link.js) is a third.
 */
export interface Transport {
  connect(): void;
  /** false when it cannot carry the frame now (it is then dropped). */
  send(frame: Frame): boolean;
  /** Ends it; no onclose follows a close asked for here. */
  close(): void;
  /**
   * Ends it without its member leaving, for another tab to resume
   * (WebSocket: close 4100; polling: the session is left unpolled).
   * Without it, close() is used.
   */
  handOver?(): void;
  onopen: () => void;
  onframe: (frame: Frame) => void;
  onclose: (info: { code: number; reason: string }) => void;
  onnotice?: (text: string) => void;
}

/** A Storage-like place to remember the fallback in. */
export interface FallbackStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface ClientOptions {
  /** The server's address, base path included ("https://host/chat/"). */
  url: string;
  /** 'auto' (default) picks and falls back; a name forces it, with no fallback. */
  transport?: 'auto' | TransportName;
  /** What the server offers, preferred first (default: both). */
  offered?: string[];
  /** The room join() uses when it is given none (default 'lobby'). */
  room?: string;
  /** Where the fallback is remembered (default: sessionStorage if any); null keeps nothing. */
  storage?: FallbackStorage | null;
  /** Its key (default 'parley.transport:' + the server's URL). */
  storageKey?: string;
  /** How each transport is made (defaults: WebSocketTransport, PollingTransport). */
  transports?: Partial<Record<TransportName, () => Transport>>;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
  /**
   * Whether the tabs of this browser share their connections to the server
   * (one per room, held by a leader tab). 'auto' (default) and true share
   * where Web Locks and BroadcastChannel exist; false connects this client
   * by itself.
   */
  share?: 'auto' | boolean;
  /** The Web Locks manager (default navigator.locks), for tests. */
  locks?: { request(name: string, ...args: unknown[]): Promise<unknown> } | null;
  /** The BroadcastChannel class (default the platform's), for tests. */
  BroadcastChannel?: typeof BroadcastChannel;
  /** What fires pagehide and pageshow (default: the page's window); null for none. */
  page?: EventTarget | null;
  /** Whether the server answers plain HTTP (decides the fallback). */
  probe?: () => Promise<{ answers: boolean; refused: string | null }>;
  /** Clock and randomness, for tests. */
  io?: Partial<{
    setTimeout: (fn: () => void, ms: number) => unknown;
    clearTimeout: (id: unknown) => void;
    setInterval: (fn: () => void, ms: number) => unknown;
    clearInterval: (id: unknown) => void;
    now: () => number;
    random: () => number;
    randomWords: () => ArrayLike<number>;
  }>;
}

/** The limits a welcome announces (PROTOCOL.md 4.1). */
export interface Limits {
  max_message_chars?: number;
  max_nick_chars?: number;
  max_frame_bytes?: number;
  max_history_limit?: number;
  /** Most members a roster() page may ask for (minor 2). */
  max_roster_limit?: number;
  /** From this many members a room is big: its presence comes counted (minor 2). */
  big_room_members?: number;
  [name: string]: number | undefined;
}

/** A chat message. */
export interface Message {
  id: number;
  ts: number;
  nick: string;
  text: string;
  /** The room it was said in. */
  room: string;
  /** Said under our nickname. */
  own: boolean;
  /** When it is one of our own pending messages: its ref (its ack follows). */
  ref?: string;
}

export interface RosterEntry {
  nick: string;
  typing?: boolean;
}

/** The `welcome` event: the server's welcome, plus what the client made of it. */
export interface Welcome {
  v: number;
  minor?: number;
  nick: string;
  room: string;
  epoch: string;
  cursor: number;
  gap: boolean;
  /** Messages not seen before (a rejoin's replay without duplicates). */
  history: Message[];
  /**
   * The room's members: everyone unless `roster_next` is present (a
   * client stating minor 2 gets one page in name order, and none in a big
   * room). `count` is the room's size either way.
   */
  roster: RosterEntry[];
  /** Present when `roster` is not everyone: the `after` of a roster() for the rest. */
  roster_next?: string;
  /** Whether `roster` lists everyone (no `roster_next`). */
  rosterComplete: boolean;
  /** The room has `limits.big_room_members` members or more: its presence comes counted. */
  bigRoom: boolean;
  count: number;
  limits: Limits;
  /** first join, rejoin of the same room after a drop, or switch to another. */
  kind: 'first' | 'rejoin' | 'switch';
  /**
   * A rejoin after the tab holding the shared connection went away and
   * this tab's link moved to the next: no close was told, and nothing
   * need be (the member never left).
   */
  handover: boolean;
  /** Another room than the last welcome's (a fresh list). */
  freshRoom: boolean;
  previousRoom: string | null;
  /** Pending messages of the previous room that were given up. */
  dropped: number;
  /** The room's numbering started again (the server lost its history). */
  renumbered: boolean;
}

export type Presence =
  | { kind: 'joined'; nick: string; count: number }
  | { kind: 'left'; nick: string; count: number }
  | {
    kind: 'presence';
    /** Arrivals and departures, oldest first: in a big room only a sample, the newest 10. */
    changes: { nick: string; present: boolean }[];
    count: number;
    /** Big rooms only: how many arrived and left in the batch, named or not. */
    arrived?: number;
    departed?: number;
  }
  | { kind: 'renamed'; old: string; new: string; own: boolean };

export interface Status {
  state: ConnectionState;
  detail?: string;
  /** Reconnects scheduled since the last welcome. */
  attempt: number;
  /** When the next reconnect is due (ms since the epoch), while reconnecting. */
  retryAt: number;
  transport?: TransportName | null;
}

/** The `error` event: an error frame the client did not settle itself, or a refusal. */
export interface ErrorEvent {
  code: string;
  message?: string;
  retry_ms?: number;
  ref?: string;
  /** The operator's hint (origin_not_allowed). */
  hint?: string;
  /** Nothing more will happen: the server refused this page. */
  fatal?: boolean;
  /** What it answered: a first join, a room switch, or a rename. */
  during?: 'join' | 'switch' | 'nick';
  nick?: string;
  room?: string;
}

export interface HistoryPage {
  ref: string;
  before: number;
  messages: Message[];
  more: boolean;
  room: string;
}

/** A page of the room's members, in name order (roster()). */
export interface RosterPage {
  ref: string;
  /** The request's `after` and `prefix`, as sent. */
  after?: string;
  prefix?: string;
  members: { nick: string; typing: boolean }[];
  /** The `after` of the next page; null at the end. */
  next: string | null;
  /** Members in the room now, whatever the prefix. */
  count: number;
}

export interface Ack {
  ref: string;
  id?: number;
}

export interface ClientEvents {
  status: Status;
  transport: { name: TransportName; why: string };
  open: { transport: TransportName };
  close: { code: number; reason: string; wasJoined: boolean; replaced: boolean };
  welcome: Welcome;
  message: Message;
  presence: Presence;
  typing: { nick: string; on: boolean; own: boolean };
  left: { room: string };
  degraded: { degraded: boolean };
  history: HistoryPage;
  roster: RosterPage;
  queued: { ref: string; text: string; room: string; nick: string };
  ack: { ref: string; id?: number; text: string; room: string };
  failed: { ref: string; text: string; room: string; error: ParleyError };
  slowdown: { waiting: number };
  notice: { text: string };
  error: ErrorEvent;
  frame: Frame;
}

/** A rejection with a stable code (PROTOCOL.md 5.1, or one of CLIENT_ERRORS). */
export class ParleyError extends Error {
  code: string;
  frame?: Frame;
  retry_ms?: number;
  nick?: string;
  room?: string;
}

export const CLIENT_ERRORS: Readonly<Record<
  'left_room' | 'join_failed' | 'too_large' | 'link_lost' | 'not_joined' | 'unsupported' | 'closed', string>>;
export const TRANSPORTS: readonly TransportName[];
export const PROTOCOL_VERSION: number;
export const CLOSE: Readonly<Record<string, number>>;

export class ParleyClient {
  constructor(options: ClientOptions);
  on<K extends keyof ClientEvents>(name: K, fn: (detail: ClientEvents[K]) => void): () => void;
  once<K extends keyof ClientEvents>(name: K, fn: (detail: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(name: K, fn: (detail: ClientEvents[K]) => void): void;
  connect(): this;
  join(options?: { nick?: string; room?: string }): Promise<Welcome>;
  say(text: string): Promise<Ack> & { ref: string };
  typing(on?: boolean): boolean;
  rename(nick: string): Promise<Extract<Presence, { kind: 'renamed' }>>;
  leave(): void;
  history(query: { before: number; limit?: number }): Promise<HistoryPage>;
  roster(query?: { after?: string; prefix?: string; limit?: number }): Promise<RosterPage>;
  reconnect(): void;
  disconnect(): void;
  close(): void;
  online(): void;
  offline(): void;
  readonly status: Status;
  readonly transport: TransportName | null;
  readonly fallbackReason: string;
  readonly connected: boolean;
  /** Whether this client's connection is shared with the browser's other tabs. */
  readonly shared: boolean;
  readonly nick: string | null;
  readonly wantedNick: string;
  readonly room: string;
  readonly joined: boolean;
  readonly awaitingWelcome: boolean;
  readonly limits: Limits | undefined;
  /** The server's minor version, from the last welcome (0 before it). */
  readonly minor: number;
  readonly degraded: boolean;
  readonly pending: number;
  readonly endpoints: { http: string; ws: string; base: string; origin: string };
}

/** A client of the server at `url`, connecting at once. */
export function connect(url: string, options?: Omit<ClientOptions, 'url'>): ParleyClient;

/** {http, ws, base, origin} of the server at `url`. */
export function endpoints(url: string, here?: string): { http: string; ws: string; base: string; origin: string };

/** The transports announced (comma-separated) that are also implemented. */
export function offeredTransports(announced: string | undefined, implemented: readonly string[]): string[];

export class WebSocketTransport implements Transport {
  constructor(url: string, WebSocketClass?: typeof WebSocket);
  connect(): void;
  send(frame: Frame): boolean;
  close(): void;
  onopen: () => void;
  onframe: (frame: Frame) => void;
  onclose: (info: { code: number; reason: string }) => void;
}

export class PollingTransport implements Transport {
  constructor(prefix: string, io?: { fetch?: typeof fetch });
  connect(): void;
  send(frame: Frame): boolean;
  close(): void;
  onopen: () => void;
  onframe: (frame: Frame) => void;
  onclose: (info: { code: number; reason: string }) => void;
  onnotice: (text: string) => void;
}
