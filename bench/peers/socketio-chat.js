// The Socket.IO 4 chat server Parley is measured against. It behaves like
// Socket.IO's classic chat example: `add user` answers `login` {numUsers}
// and broadcasts `user joined`; `new message`, `typing` and `stop typing`
// are broadcast to everyone else; a logged-in user's disconnect broadcasts
// `user left`. One addition, for the hold scenario only: a `room` query
// parameter on the handshake scopes a socket's broadcasts and numUsers to
// that room (Parley's hold scenario uses rooms too, so neither server pays
// an O(N^2) login flood there). Without `room` it is the classic one-room chat.
//
// With a Redis URL, every instance given the same one is part of one chat
// through Socket.IO's Redis adapter (@socket.io/redis-adapter, Redis
// pub/sub): a broadcast reaches the sockets of every instance. numUsers
// stays per instance, as in any classic-chat deployment on that adapter,
// which shares broadcasts, not state.
//
// With `cluster` after the URL (or REDIS_CLUSTER=1), the URL is one or more
// nodes of a Redis Cluster, comma-separated, and the adapter talks to the
// cluster through node-redis's cluster client (`createCluster`, the setup
// the adapter's README gives for a cluster): the client finds the other
// nodes from these, at the addresses the nodes announce, and the adapter
// keeps its classic PUBLISH/PSUBSCRIBE, which a cluster passes to every
// node.
//
// Usage: node socketio-chat.js [port] [host] [redis-url] [cluster]
//        (or PORT / HOST / REDIS_URL / REDIS_CLUSTER=1)
'use strict';

const http = require('http');
const express = require('express');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3001);
const host = process.argv[3] || process.env.HOST || '127.0.0.1';
const redisUrl = process.argv[4] || process.env.REDIS_URL || '';
const redisCluster = process.argv[5] === 'cluster' || process.env.REDIS_CLUSTER === '1';
if (process.argv[5] !== undefined && process.argv[5] !== 'cluster') {
  console.error(`socketio-chat: unknown argument ${JSON.stringify(process.argv[5])} (only "cluster")`);
  process.exit(2);
}
if (redisCluster && !redisUrl) {
  console.error('socketio-chat: a Redis Cluster needs the URL of at least one node');
  process.exit(2);
}

const app = express();
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));

const server = http.createServer(app);
const io = new Server(server, { serveClient: false });

// Users logged in, per room ('' is the classic global chat).
const numUsers = new Map();

io.on('connection', (socket) => {
  const room = typeof socket.handshake.query.room === 'string' ? socket.handshake.query.room : '';
  if (room) socket.join(room);
  const others = () => (room ? socket.broadcast.to(room) : socket.broadcast);
  let addedUser = false;

  socket.on('new message', (data) => {
    others().emit('new message', { username: socket.username, message: data });
  });

  socket.on('add user', (username) => {
    if (addedUser) return;
    socket.username = username;
    const n = (numUsers.get(room) || 0) + 1;
    numUsers.set(room, n);
    addedUser = true;
    socket.emit('login', { numUsers: n });
    others().emit('user joined', { username: socket.username, numUsers: n });
  });

  socket.on('typing', () => {
    others().emit('typing', { username: socket.username });
  });

  socket.on('stop typing', () => {
    others().emit('stop typing', { username: socket.username });
  });

  socket.on('disconnect', () => {
    if (!addedUser) return;
    const n = numUsers.get(room) - 1;
    if (n === 0) numUsers.delete(room);
    else numUsers.set(room, n);
    others().emit('user left', { username: socket.username, numUsers: n });
  });
});

// Listens only once the adapter is connected, so an open port means ready.
async function start() {
  if (redisUrl) {
    // Required here so that the single-instance peer needs neither package.
    const { createClient, createCluster } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pubClient = redisCluster
      ? createCluster({ rootNodes: redisUrl.split(',').map((url) => ({ url: url.trim() })) })
      : createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    for (const client of [pubClient, subClient]) {
      client.on('error', (err) => console.error(`redis: ${err.message}`));
    }
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  server.listen(port, host, () => {
    const kind = redisCluster ? 'Redis Cluster adapter' : 'Redis adapter';
    const through = redisUrl ? ` (${kind}: ${redisUrl})` : '';
    console.log(`socketio-chat listening on ${host}:${port}${through}`);
  });
}

start().catch((err) => {
  console.error(`socketio-chat: ${err.message}`);
  process.exit(1);
});

const stop = () => {
  io.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
