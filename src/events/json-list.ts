/**
 * JSON arrays as bytes, for the append-delta fast path. A list channel serialized by a JSON
 * serializer (type tag "json", LangGraph's JsonPlusSerializer) is `[e1,e2,...]`, each element
 * the serialization of that element. So "the list only grew" is "the old bytes without their
 * closing bracket are a prefix of the new bytes, followed by a comma" — one byte comparison
 * instead of serializing every element at every step — and a list is rebuilt from a snapshot
 * and its appends by concatenation, without parsing. Pure; no knowledge of the serializer
 * beyond that shape.
 */

const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** bytes of a JSON array: starts with `[` and ends with `]` (no surrounding whitespace) */
export function isJsonArray(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === OPEN && bytes[bytes.length - 1] === CLOSE;
}

/**
 * The top-level elements of a JSON array's inside (`e1,e2,...` without brackets), as
 * subarrays of `inner`; undefined when it is not well formed at the top level. Empty input:
 * no elements.
 */
export function splitJsonElements(inner: Uint8Array): Uint8Array[] | undefined {
  const out: Uint8Array[] = [];
  if (inner.length === 0) return out;
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN || c === OPEN_BRACE) depth++;
    else if (c === CLOSE || c === CLOSE_BRACE) {
      if (--depth < 0) return undefined;
    } else if (c === COMMA && depth === 0) {
      if (i === start) return undefined;
      out.push(inner.subarray(start, i));
      start = i + 1;
    }
  }
  if (inString || depth !== 0 || start >= inner.length) return undefined;
  out.push(inner.subarray(start));
  return out;
}

/** number of top-level elements of a JSON array; undefined when malformed */
export function countJsonElements(bytes: Uint8Array): number | undefined {
  if (!isJsonArray(bytes)) return undefined;
  return splitJsonElements(bytes.subarray(1, -1))?.length;
}

/**
 * The elements `next` has after the `baseCount` elements of `base`, when `next` is `base`
 * grown at the end (byte for byte); undefined when it is not. Both must be JSON arrays.
 */
export function appendedElements(base: Uint8Array, baseCount: number, next: Uint8Array): Uint8Array[] | undefined {
  if (!isJsonArray(base) || !isJsonArray(next)) return undefined;
  const prefix = base.length - 1; // without the closing bracket
  if (next.length < base.length) return undefined;
  if (Buffer.compare(Buffer.from(base.buffer, base.byteOffset, prefix), Buffer.from(next.buffer, next.byteOffset, prefix)) !== 0) return undefined;
  if (next.length === base.length) return []; // the same bytes: nothing appended
  // after a non-empty base the next byte must be the separator; after `[]` the elements start at once
  const from = baseCount === 0 ? prefix : next[prefix] === COMMA ? prefix + 1 : -1;
  if (from < 0) return undefined;
  return splitJsonElements(next.subarray(from, next.length - 1));
}

/** `[...base, ...items]` as JSON bytes; `base` a JSON array with `baseCount` elements */
export function concatJsonArray(base: Uint8Array, baseCount: number, items: readonly Uint8Array[]): Uint8Array {
  if (items.length === 0) return base;
  const parts: Uint8Array[] = [base.subarray(0, base.length - 1)];
  items.forEach((it, i) => {
    if (i > 0 || baseCount > 0) parts.push(Buffer.of(COMMA));
    parts.push(it);
  });
  parts.push(Buffer.of(CLOSE));
  return Buffer.concat(parts);
}
