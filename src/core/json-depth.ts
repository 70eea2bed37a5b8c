/**
 * Measures how deeply a JSON text (a string or its UTF-8 bytes) nests, without parsing it. Pure. Run
 * on the raw bytes before JSON.parse so a body nested thousands deep is refused cheaply instead of
 * overflowing the stack of whatever walks the parsed value later (normalisers, JSON.stringify, the
 * dead-letter writer).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** True when brackets outside strings nest deeper than `max`. Invalid JSON is left to the parser. */
export function jsonNestingExceeds(text: string | Uint8Array, max: number): boolean {
  return typeof text === 'string' ? exceeds(text, max) : exceedsBytes(text, max);
}

// Two copies of one loop, so each reads its input directly (no per-character call or set lookup).
function exceedsBytes(text: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true;
    } else if ((b === 0x5d || b === 0x7d) && depth > 0) {
      depth--;
    }
  }
  return false;
}

function exceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = text.charCodeAt(i);
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true;
    } else if ((b === 0x5d || b === 0x7d) && depth > 0) {
      depth--;
    }
  }
  return false;
}
