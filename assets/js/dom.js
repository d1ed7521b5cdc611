/*
 * The few element builders every part of the view shares: finding an
 * element by id, making one with a class and text, a nickname as the
 * page shows it (its own hue, dir="auto"), and a sentence whose names are
 * isolated (<bdi>).
 *
 * Owns: nothing but these helpers; no state.
 * Must not touch: the document beyond making elements; it inserts nothing.
 * Text is only ever set through textContent, so user text given here
 * reaches the DOM as text, never as HTML.
 */

import { nickHue } from './format.js';

/** The element with id `id`. */
export const byId = (id) => document.getElementById(id);

/** A `tag` element with `className` (if any) holding `text` (if given) as text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * The nodes of a sentence (sentence.js): text, and each nickname as a
 * <bdi class="name">, isolated from the words around it.
 */
export function sentenceNodes(parts) {
  if (typeof parts === 'string') return [document.createTextNode(parts)];
  return parts.map((part) => (typeof part === 'string' ? document.createTextNode(part) : el('bdi', 'name', part.name)));
}

/** span.nick: a nickname in its own hue, laid out by its own direction. */
export function nickSpan(nick) {
  const span = el('span', 'nick', nick);
  span.dir = 'auto';
  span.style.setProperty('--hue', String(nickHue(nick)));
  return span;
}
