import { describe, expect, it } from 'vitest';
import { createRedisKeys, hashTagOf } from '../../src/redis/keys.ts';
import { isThreadlogError } from '../../src/errors.ts';

const hostile = ['', 'a', '}', '{', '{}', '}{', 'a}b{c', 't:1', 'ns%7D', '%', 'ünï-🧵', 'x'.repeat(3000)];

describe('Redis keys', () => {
  const keys = createRedisKeys('app:');

  it('every key of a thread has the same non-empty hash tag, whatever the thread id', () => {
    for (const t of hostile) {
      const all = [keys.head(t, ''), keys.head(t, 'a}b'), keys.checkpoint(t, '{', 'c}'), keys.threadKeys(t), keys.tombstone(t)];
      const tags = new Set(all.map(hashTagOf));
      expect(tags).toEqual(new Set([keys.tag(t).slice(1, -1)]));
      expect(keys.tag(t).length).toBeGreaterThan(2);
    }
  });

  it('different threads get different tags and keys', () => {
    expect(new Set(hostile.map((t) => keys.tag(t))).size).toBe(hostile.length);
    expect(keys.checkpoint('t', 'a:b', 'c')).not.toBe(keys.checkpoint('t', 'a', 'b:c'));
  });

  it('a `}` in the thread id cannot end the tag early', () => {
    expect(hashTagOf(keys.head('a}b', ''))).toBe(hashTagOf(keys.tombstone('a}b')));
    expect(hashTagOf(keys.head('a}b', ''))).not.toBe(hashTagOf(keys.head('a', '')));
    expect(keys.head('a}b', '')).toMatch(/^app:\{[^{}]+\}:/);
  });

  it('all keys sit under the prefix, which may not hold braces', () => {
    expect(keys.head('t', '').startsWith('app:')).toBe(true);
    expect(keys.watermarks('topic').startsWith('app:')).toBe(true);
    let err: unknown;
    try {
      createRedisKeys('a{b}:');
    } catch (e) {
      err = e;
    }
    expect(isThreadlogError(err, 'invalid-options')).toBe(true);
  });

  it('hashTagOf follows the Redis Cluster rule', () => {
    expect(hashTagOf('{user1000}.following')).toBe('user1000');
    expect(hashTagOf('foo{}{bar}')).toBe('foo{}{bar}');
    expect(hashTagOf('foo{{bar}}zap')).toBe('{bar');
    expect(hashTagOf('foo{bar}{zap}')).toBe('bar');
  });
});
