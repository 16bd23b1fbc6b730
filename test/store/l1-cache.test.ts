import { describe, expect, it } from 'vitest';
import { createL1Cache, L1_ENTRY_OVERHEAD } from '../../src/store/l1-cache.ts';
import { decodeEntry, encodeEntry, type CacheEntry } from '../../src/store/entry.ts';

const buf = (n: number): Buffer => Buffer.alloc(n, 1);

describe('L1 cache', () => {
  it('accounts bytes exactly and evicts least recently used past the budget', () => {
    const l1 = createL1Cache(10_000);
    l1.setCheckpoint('t', '', 'a', buf(3000));
    const one = l1.bytes;
    expect(one).toBeGreaterThanOrEqual(3000 + L1_ENTRY_OVERHEAD);
    l1.setCheckpoint('t', '', 'b', buf(3000));
    l1.setCheckpoint('t', '', 'c', buf(3000));
    expect(l1.entries).toBe(3);
    l1.getCheckpoint('t', '', 'a'); // a is now the most recent
    l1.setCheckpoint('t', '', 'd', buf(3000));
    expect(l1.getCheckpoint('t', '', 'b')).toBeUndefined();
    expect(l1.getCheckpoint('t', '', 'a')).toBeDefined();
    expect(l1.bytes).toBeLessThanOrEqual(10_000);
  });

  it('refuses an entry larger than the whole budget instead of flushing everything', () => {
    const l1 = createL1Cache(5_000);
    l1.setCheckpoint('t', '', 'small', buf(100));
    l1.setCheckpoint('t', '', 'huge', buf(6_000));
    expect(l1.getCheckpoint('t', '', 'small')).toBeDefined();
    expect(l1.getCheckpoint('t', '', 'huge')).toBeUndefined();
  });

  it('drops a whole thread at once and keeps hostile ids apart', () => {
    const l1 = createL1Cache(1_000_000);
    l1.setCheckpoint('a:b', '', 'x', buf(10));
    l1.setCheckpoint('a', 'b:', 'x', buf(11));
    l1.setBlob('a:b', '', { kind: 'snapshot', channel: 'c', version: 1, value: { type: 'json', value: new Uint8Array(5) } });
    expect(l1.getCheckpoint('a', 'b:', 'x')?.length).toBe(11);
    expect(l1.getBlob('a:b', '', 'c', '1')).toBeUndefined(); // version 1 is not "1"
    expect(l1.dropThread('a:b')).toBe(2);
    expect(l1.getCheckpoint('a:b', '', 'x')).toBeUndefined();
    expect(l1.getCheckpoint('a', 'b:', 'x')).toBeDefined();
    expect(l1.entries).toBe(1);
  });

  it('disabled with a zero budget', () => {
    const l1 = createL1Cache(0);
    l1.setCheckpoint('t', '', 'a', buf(1));
    expect(l1.entries).toBe(0);
  });
});

describe('cache entry', () => {
  it('round-trips and refuses foreign payloads', () => {
    const e: CacheEntry = {
      threadId: 't{1}',
      checkpointNs: '',
      checkpointId: 'c',
      parentCheckpointId: undefined,
      header: { v: 4, id: 'c', ts: 'now', channel_versions: { a: 1 }, versions_seen: {} },
      metadata: { step: 1 },
      position: { partition: 2, offset: '41' },
      values: [['a', { type: 'json', value: new Uint8Array([49]) }]],
      writes: [{ taskId: 'k', channel: 'a', value: { type: 'bytes', value: new Uint8Array([1, 2]) } }],
      writesAsOf: '41',
    };
    const d = decodeEntry(encodeEntry(e));
    expect(d).toEqual(e);
    expect(decodeEntry(Buffer.from('{"threadId":"t"}'))).toBeUndefined();
  });
});
