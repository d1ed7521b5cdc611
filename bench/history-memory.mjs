// What history costs in resident memory (docs/BENCHMARKS.md, "History
// memory"): one WebSocket client per room joins, says MSGS messages of
// 2,000 four-byte characters (the longest), waits for its last ack, and
// either stays (KEEP=1) or leaves (KEEP=0); rooms are filled one after the
// other. Then, after SETTLE_MS (jemalloc returns freed pages after about
// 10 s), it prints the server's RSS growth per room and the
// parley_history_bytes gauges. bench/history-memory.sh starts the server.
// Every wait is bounded (60 s); traffic goes to 127.0.0.1 only.
//   node --experimental-websocket bench/history-memory.mjs PORT PID ROOMS MSGS KEEP
import { readFileSync } from 'node:fs';
const [port, pid, rooms, msgs, keep] = process.argv.slice(2).map(Number);
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const text = '😀'.repeat(2000); // 8,000 bytes of UTF-8, the longest message
const open = [];
async function fill(i) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const frames = [];
  let wake = null;
  ws.onmessage = (e) => { frames.push(JSON.parse(e.data)); if (wake) wake(); };
  await new Promise((ok, ko) => { ws.onopen = ok; ws.onerror = ko; });
  const until = async (pred) => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const f = frames.find(pred);
      if (f) return f;
      frames.length = 0;
      await new Promise((ok) => { wake = ok; setTimeout(ok, 5000); });
    }
    throw new Error('never came');
  };
  ws.send(JSON.stringify({ type: 'join', nick: `u${i}`, room: `room-${i}` }));
  await until((f) => f.type === 'welcome');
  for (let m = 0; m < msgs; m++) {
    ws.send(JSON.stringify({ type: 'say', text, ref: m === msgs - 1 ? 'last' : undefined }));
    if (m % 50 === 49) { frames.length = 0; }
  }
  await until((f) => f.type === 'ack' && f.ref === 'last');
  if (keep) open.push(ws); else ws.close();
}
const before = rss();
for (let i = 0; i < rooms; i++) await fill(i);
await new Promise((ok) => setTimeout(ok, Number(process.env.SETTLE_MS || 1500)));
const after = rss();
console.log(JSON.stringify({ rooms, msgs, keep, rss_before: before, rss_after: after, per_room: Math.round((after - before) / rooms) }));
const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
console.log(metrics.split('\n').filter((l) => l.startsWith('parley_history_bytes')).join('\n'));
for (const ws of open) ws.close();
process.exit(0);
