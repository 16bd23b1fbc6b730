/**
 * Checkpoint metadata is stored as a plain document so cross-thread listing can filter on it,
 * but its keys are user data: FerretDB refuses `.` in keys and MongoDB refuses `$`-prefixed
 * ones in updates. Keys are escaped (`%`, `.`, NUL, a leading `$`), recursively, and filters
 * escape theirs the same way, so any JSON metadata round-trips and stays filterable.
 */
import { ThreadlogError } from '../errors.ts';

// eslint-disable-next-line no-control-regex
const UNSAFE_KEY = /[%.\u0000]|^\$/g;
const escapeKey = (k: string): string => k.replace(UNSAFE_KEY, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
const unescapeKey = (k: string): string => k.replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));

function mapKeys(value: unknown, f: (k: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapKeys(v, f));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [f(k), mapKeys(v, f)]));
}

export const toStoredMetadata = (m: Record<string, unknown>): Record<string, unknown> =>
  mapKeys(m, escapeKey) as Record<string, unknown>;

export const fromStoredMetadata = (m: Record<string, unknown>): Record<string, unknown> =>
  mapKeys(m, unescapeKey) as Record<string, unknown>;

/**
 * LangGraph's `list({ filter })`: equality on top-level metadata keys. `$eq` keeps a value
 * that is an object from being read as query operators (no injection through filters).
 */
export function metadataQuery(filter: Record<string, unknown> | undefined): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(filter ?? {})) {
    if (v === undefined) throw new ThreadlogError('invalid-filter', `metadata filter key ${JSON.stringify(k)} has no value`);
    query[`metadata.${escapeKey(k)}`] = { $eq: mapKeys(v, escapeKey) };
  }
  return query;
}
