/**
 * Measures how deeply a JSON text (a string or its UTF-8 bytes) nests, without parsing it. Pure. Run
 * on the raw bytes before JSON.parse so a body nested thousands deep is refused cheaply instead of
 * overflowing the stack of whatever walks the parsed value later (normalisers, JSON.stringify, the
 * dead-letter writer).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]); // [ {
const CLOSERS = new Set([0x5d, 0x7d]); // ] }

/** True when brackets outside strings nest deeper than `max`. Invalid JSON is left to the parser. */
export function jsonNestingExceeds(text: string | Uint8Array, max: number): boolean {
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i]!;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = at(i);
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (OPENERS.has(b)) {
      if (++depth > max) return true;
    } else if (CLOSERS.has(b)) {
      depth = Math.max(0, depth - 1);
    }
  }
  return false;
}
