/*
 * Sentences that hold nicknames ("Ann joined", "Ann is typing…"), as
 * parts: plain strings, and {name} for each nickname. The view draws a
 * name as its own <bdi> (dom.js, sentenceNodes), so that a right-to-left
 * nickname cannot reorder the words around it ("ناديا joined — there are
 * 3 participants" keeps its order), and a left-to-right one cannot be
 * pulled into a right-to-left sentence either.
 *
 * Owns: nothing but these helpers; no state, no DOM.
 */

/** A nickname inside a sentence. */
export const nameIn = (nick) => ({ name: String(nick) });

/** A sentence's parts from a template literal: names given as nameIn(). */
export function sentence(strings, ...values) {
  const parts = [];
  strings.forEach((text, i) => {
    if (text !== '') parts.push(text);
    if (i < values.length) parts.push(typeof values[i] === 'object' && values[i] !== null ? values[i] : String(values[i]));
  });
  return parts;
}

/** The plain text of a sentence (or a string as it is). */
export function plainText(parts) {
  if (typeof parts === 'string') return parts;
  return parts.map((part) => (typeof part === 'string' ? part : part.name)).join('');
}
