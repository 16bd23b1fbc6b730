/**
 * Channel values and pending writes as the serializer hands them back (LangChain messages,
 * bytes, Maps, Dates, bigints) turned into plain JSON for the viewer: what `JSON.stringify`
 * would lose or reject is kept visible as text instead of dropped.
 */
const MAX_DEPTH = 64;

export function toPlain(v: unknown, depth = 0): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === undefined) return null;
  if (typeof v === 'function' || typeof v === 'symbol') return `[${typeof v}]`;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (v instanceof Uint8Array) return { $bytes: v.byteLength, base64: Buffer.from(v.buffer, v.byteOffset, Math.min(v.byteLength, 96)).toString('base64') };
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toPlain(x, depth + 1)]));
  if (v instanceof Set) return [...v].map((x) => toPlain(x, depth + 1));
  if (Array.isArray(v)) return v.map((x) => toPlain(x, depth + 1));
  const o = v as { toJSON?: () => unknown };
  if (typeof o.toJSON === 'function') return toPlain(o.toJSON(), depth + 1);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = toPlain(x, depth + 1);
  return out;
}
