/**
 * Metadata filters reach a MongoDB query, so they are checked at the door: only equality of
 * a primitive on a plain top-level key. Anything else could smuggle an operator (`$where`,
 * `$ne`), a dotted path into nested documents, or an object read as an operator document.
 */
import { ThreadlogError } from '../errors.ts';
import type { MetadataFilter } from './types.ts';

const plainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

function reject(message: string, key?: string): never {
  throw new ThreadlogError('invalid-filter', message, key === undefined ? {} : { details: { key } });
}

/** Throws 'invalid-filter' unless `filter` is a MetadataFilter; returns it typed. */
export function validateMetadataFilter(filter: unknown): MetadataFilter | undefined {
  if (filter === undefined) return undefined;
  if (!plainObject(filter)) reject('a metadata filter must be a plain object');
  for (const key of Reflect.ownKeys(filter)) {
    if (typeof key !== 'string') reject('a metadata filter key must be a string');
    if (key.length === 0) reject('a metadata filter key must not be empty', key);
    if (key.startsWith('$')) reject(`metadata filter key ${JSON.stringify(key)} starts with "$" (operators are not accepted)`, key);
    if (key.includes('.')) reject(`metadata filter key ${JSON.stringify(key)} contains "." (paths are not accepted)`, key);
    const value = filter[key];
    const t = typeof value;
    if (value === null || t === 'string' || t === 'boolean') continue;
    if (t === 'number' && Number.isFinite(value)) continue;
    reject(`metadata filter value of ${JSON.stringify(key)} must be a string, finite number, boolean or null`, key);
  }
  return filter as MetadataFilter;
}

/** The same equality in memory, for lists that are filtered after the query (one thread). */
export function matchesFilter(metadata: Record<string, unknown>, filter: MetadataFilter | undefined): boolean {
  if (filter === undefined) return true;
  for (const [k, v] of Object.entries(filter)) {
    const has = Object.prototype.hasOwnProperty.call(metadata, k);
    // MongoDB's {$eq: null} also matches a missing key: agree with it
    if (v === null ? has && metadata[k] !== null : !has || metadata[k] !== v) return false;
  }
  return true;
}
