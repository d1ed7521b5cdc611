/*
 * A message's text cut into the parts the page draws differently: plain
 * text, links (http and https URLs only), and mentions of the reader's own
 * nickname. view.js turns each part into a text node, an <a> or a <mark>;
 * the text is never parsed as HTML.
 *
 * Links: a URL starts with http:// or https:// (any case) where no letter
 * or digit comes just before, and runs to white space or one of < > " (which
 * a URL cannot hold as they are). Punctuation that ends a sentence (. , ; :
 * ! ? ' " * and the like) is not part of it, nor is a closing bracket that
 * has no opening one inside the URL, so "(see https://a.example/x)" and
 * "https://en.wikipedia.org/wiki/Rust_(language)." both come out right.
 * What remains must parse as a URL with a host, and the link goes to the
 * parsed form: nothing but http: and https: ever becomes a link, so
 * `javascript:alert(1)` and `data:` URLs stay text.
 *
 * Mentions: the nickname anywhere in the text, compared without regard to
 * case, with no letter, digit, mark or _ right before or after it, nor a
 * hyphen joining it to another word ("ann" is mentioned in "hi Ann!",
 * "@ann" and "ann's", not in "Joanna", "anne" or "ann-marie").
 *
 * Owns: nothing mutable; pure functions.
 * Must not touch: the DOM, timers or the network.
 */

/** Where a link may start: the scheme, not glued to a word before it. */
const LINK_START = /(?<![\p{L}\p{N}])https?:\/\//giu;

/** What a URL runs over once started. */
const URL_CHAR = /[^\s<>"]/u;

/** Characters that end a sentence rather than a URL, when last. */
const TRAILING = new Set(['.', ',', ';', ':', '!', '?', "'", '"', '*', '…', '。', '、', '，', '！', '？', '»', '›']);

/** Closing brackets, with their opening ones. */
const CLOSING = new Map([[')', '('], [']', '['], ['}', '{']]);

/**
 * The end (exclusive) of the URL that starts at `start` in `text`, with
 * sentence punctuation and unmatched closing brackets left out.
 */
function urlEnd(text, start, schemeEnd) {
  let end = schemeEnd;
  while (end < text.length && URL_CHAR.test(text[end])) end += 1;
  // Count the brackets once; each character trimmed off the end updates them.
  const open = new Map([['(', 0], ['[', 0], ['{', 0]]);
  const close = new Map([[')', 0], [']', 0], ['}', 0]]);
  for (let i = start; i < end; i += 1) {
    if (open.has(text[i])) open.set(text[i], open.get(text[i]) + 1);
    else if (close.has(text[i])) close.set(text[i], close.get(text[i]) + 1);
  }
  while (end > schemeEnd) {
    const last = text[end - 1];
    if (TRAILING.has(last)) {
      end -= 1;
    } else if (CLOSING.has(last) && close.get(last) > open.get(CLOSING.get(last))) {
      close.set(last, close.get(last) - 1);
      end -= 1;
    } else {
      break;
    }
  }
  return end;
}

/** The address a link goes to, or null when `candidate` is not an http(s) URL with a host. */
export function linkTarget(candidate) {
  let url;
  try {
    url = new URL(candidate);
  } catch (_) {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return null;
  return url.href;
}

/** Appends a text part, joining it to a text part before it. */
function pushText(parts, text) {
  if (!text) return;
  const last = parts[parts.length - 1];
  if (last && last.kind === 'text') last.text += text;
  else parts.push({ kind: 'text', text });
}

/**
 * `text` as [{kind: 'text', text}] and [{kind: 'link', text, href}] parts
 * in order; their texts joined give `text` back.
 */
export function linkParts(text) {
  const parts = [];
  let done = 0;
  LINK_START.lastIndex = 0;
  for (let found = LINK_START.exec(text); found; found = LINK_START.exec(text)) {
    const start = found.index;
    const end = urlEnd(text, start, LINK_START.lastIndex);
    const candidate = text.slice(start, end);
    const href = end > LINK_START.lastIndex ? linkTarget(candidate) : null;
    if (href) {
      pushText(parts, text.slice(done, start));
      parts.push({ kind: 'link', text: candidate, href });
      done = end;
    }
    LINK_START.lastIndex = Math.max(end, LINK_START.lastIndex);
  }
  pushText(parts, text.slice(done));
  return parts;
}

/** A pattern matching `nick` as a whole word, any case; null for an empty nickname. */
export function mentionPattern(nick) {
  const name = (nick || '').trim();
  if (!name) return null;
  // Only the pattern syntax characters: with the u flag, escaping anything else is an error.
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A hyphen between letters joins a name ("ann-marie" is not "ann").
  const before = '(?<![\\p{L}\\p{N}\\p{M}_]|[\\p{L}\\p{N}]-)';
  const after = '(?![\\p{L}\\p{N}\\p{M}_]|-[\\p{L}\\p{N}])';
  return new RegExp(`${before}${escaped}${after}`, 'giu');
}

/** Splits a text part at the mentions of `pattern`. */
function splitMentions(parts, text, pattern) {
  let done = 0;
  pattern.lastIndex = 0;
  for (let found = pattern.exec(text); found; found = pattern.exec(text)) {
    pushText(parts, text.slice(done, found.index));
    parts.push({ kind: 'mention', text: found[0] });
    done = found.index + found[0].length;
  }
  pushText(parts, text.slice(done));
}

/**
 * A message's text as parts to draw: text, links and, when `me` is given
 * (the reader's nickname, for others' messages), mentions of it. A
 * mention inside a link stays part of the link.
 */
export function messageParts(text, me) {
  const linked = linkParts(text);
  const pattern = mentionPattern(me);
  if (pattern === null) return linked;
  const parts = [];
  for (const part of linked) {
    if (part.kind === 'text') splitMentions(parts, part.text, pattern);
    else parts.push(part);
  }
  return parts;
}

/** Whether `text` mentions `me` outside its links, as messageParts marks it. */
export function mentions(text, me) {
  return messageParts(text, me).some((part) => part.kind === 'mention');
}
