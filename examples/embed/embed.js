/*
 * The embedding example's script: loads parley-client.js from the Parley
 * server named by ?server=, joins ?room= (lobby by default) under the
 * nickname typed, and shows the room's messages and comings and goings.
 * ?transport=websocket|polling forces a transport.
 *
 * Owns: this page's DOM and its one client.
 * Must not touch: anything of Parley's but the library's public API.
 * Everything users wrote reaches the DOM as text (textContent), never as
 * HTML.
 */

const params = new URLSearchParams(location.search);
const server = params.get('server') || 'http://127.0.0.1:3000/';
const room = params.get('room') || 'lobby';
const $ = (id) => document.getElementById(id);

/** Appends a line: `nick` in bold (when given) and `text`, both as text. */
function line(kind, text, nick) {
  const li = document.createElement('li');
  li.className = kind;
  if (nick) {
    const who = document.createElement('span');
    who.className = 'nick';
    who.textContent = nick;
    li.append(who);
  }
  const what = document.createElement('span');
  what.className = 'text';
  what.textContent = text;
  li.append(what);
  $('log').append(li);
  return li;
}

// "latest" is any version: the server answers with its current library,
// revalidated on every load. Pin {base}/assets/{version}/... to cache it.
const { connect } = await import(new URL('assets/latest/client/parley-client.js', server).href);
const chat = connect(server, { transport: params.get('transport') || 'auto', room });

chat.on('status', ({ state }) => { $('status').textContent = state; });
chat.on('transport', ({ name }) => { $('transport').textContent = name; });
chat.on('open', ({ transport }) => { $('transport').textContent = transport; });
chat.on('welcome', (w) => {
  line('event', `You are ${w.nick} in #${w.room}.`);
  for (const m of w.history) line('message', m.text, m.nick);
});
chat.on('message', (m) => line('message', m.text, m.nick));
chat.on('presence', (p) => {
  if (p.kind === 'joined') line('event', `${p.nick} joined`);
  if (p.kind === 'left') line('event', `${p.nick} left`);
  if (p.kind === 'renamed') line('event', `${p.old} is now ${p.new}`);
});
chat.on('error', (e) => { $('problem').textContent = e.message || e.code; });

$('join-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('problem').textContent = '';
  try {
    await chat.join({ nick: $('nick').value.trim(), room });
  } catch (e) {
    $('problem').textContent = `${e.code}: ${e.message}`;
  }
});

$('say-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  $('text').value = '';
  try {
    const { id } = await chat.say(text);
    $('log').dataset.acked = String(id);
  } catch (e) {
    $('problem').textContent = `${e.code}: ${e.message}`;
  }
});

window.addEventListener('pagehide', () => chat.close());
