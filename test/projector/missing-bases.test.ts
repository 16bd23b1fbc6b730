import { describe, expect, it } from 'vitest';
import { createKnownVersions } from '../../src/projector/missing-bases.ts';

describe('known versions', () => {
  it('remembers recent versions per thread, bounded in threads and versions per thread', () => {
    const k = createKnownVersions(2, 3);
    for (let v = 1; v <= 5; v++) k.add('a', '', 'm', v);
    expect([1, 2, 3, 4, 5].map((v) => k.has('a', '', 'm', v))).toEqual([false, false, true, true, true]);
    // numbers and strings, namespaces and channels are apart
    expect(k.has('a', '', 'm', '5')).toBe(false);
    expect(k.has('a', 'sub', 'm', 5)).toBe(false);
    k.add('b', '', 'm', 1);
    k.add('c', '', 'm', 1);
    expect(k.has('a', '', 'm', 5)).toBe(false); // least recently used thread evicted
    expect(k.has('b', '', 'm', 1) && k.has('c', '', 'm', 1)).toBe(true);
    k.dropThread('b');
    expect(k.has('b', '', 'm', 1)).toBe(false);
    k.clear();
    expect(k.has('c', '', 'm', 1)).toBe(false);
  });
});
