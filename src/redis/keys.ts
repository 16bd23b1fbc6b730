/**
 * Redis key scheme. Every key of a thread carries the hash tag `{t<thread>}`, so on Redis
 * Cluster one thread lives on one slot and its keys can be touched by one script. The thread
 * id is escaped (projection/ids.ts, plus `{` and `}`) so it cannot close the tag early; the
 * `t` keeps the tag non-empty (an empty `{}` is not a tag). Everything sits under `prefix`,
 * which must not contain braces: a `{` there would become the tag of every key.
 */
import { ThreadlogError } from '../errors.ts';
import { encodeIdPart } from '../projection/ids.ts';

const escapeTag = (thread: string): string => encodeIdPart(thread).replace(/[{}]/g, (c) => (c === '{' ? '%7B' : '%7D'));

export interface RedisKeys {
  /** `{t...}` for a thread, exposed for tests and cluster tooling */
  tag(thread: string): string;
  head(thread: string, ns: string): string;
  checkpoint(thread: string, ns: string, checkpointId: string): string;
  /** the set of a thread's cache keys, so a delete needs no KEYS/SCAN */
  threadKeys(thread: string): string;
  tombstone(thread: string): string;
  /** hash partition -> highest fully applied offset */
  watermarks(topic: string): string;
  watermarkChannel(topic: string): string;
}

export function createRedisKeys(prefix: string): RedisKeys {
  if (/[{}]/.test(prefix)) throw new ThreadlogError('invalid-options', `a Redis key prefix must not contain braces: ${JSON.stringify(prefix)}`);
  const tag = (thread: string): string => `{t${escapeTag(thread)}}`;
  const k = (thread: string, ...rest: string[]): string => [`${prefix}${tag(thread)}`, ...rest].join(':');
  return {
    tag,
    head: (thread, ns) => k(thread, 'head', encodeIdPart(ns)),
    checkpoint: (thread, ns, id) => k(thread, 'cp', encodeIdPart(ns), encodeIdPart(id)),
    threadKeys: (thread) => k(thread, 'keys'),
    tombstone: (thread) => k(thread, 'tomb'),
    watermarks: (topic) => `${prefix}wm:{${escapeTag(topic)}}`,
    watermarkChannel: (topic) => `${prefix}wm:{${escapeTag(topic)}}`,
  };
}

/** The slot-deciding part of a key, as Redis Cluster computes it (for tests and tooling). */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close < 0 || close === open + 1 ? key : key.slice(open + 1, close);
}
