import { describe, expect, it } from 'vitest';
import { createApplyState } from '../../src/mongo/apply-state.ts';
import type { ChainDoc } from '../../src/projection/chain.ts';

const chain = (threadId: string, offset: number): ChainDoc => ({ _id: `chain:${threadId}`, threadId, head: 'ab', count: 1, pos: { partition: 0, offset }, first: { partition: 0, offset } });

describe('apply state', () => {
  it('tells unknown (undefined) from known-none (null) and known values', () => {
    const s = createApplyState();
    expect(s.tombstone('t')).toBeUndefined();
    expect(s.chain('t')).toBeUndefined();
    s.setTombstone('t', null);
    s.setChain('t', chain('t', 3));
    expect(s.tombstone('t')).toBeNull();
    expect(s.chain('t')?.pos.offset).toBe(3);
    s.setTombstone('t', { partition: 0, offset: 9 });
    expect(s.tombstone('t')).toEqual({ partition: 0, offset: 9 });
  });

  it('forgets some threads or all of them', () => {
    const s = createApplyState();
    for (const t of ['a', 'b', 'c']) {
      s.setTombstone(t, null);
      s.setChain(t, chain(t, 1));
    }
    s.forget(['a']);
    expect(s.tombstone('a')).toBeUndefined();
    expect(s.chain('a')).toBeUndefined();
    expect(s.tombstone('b')).toBeNull();
    s.forget();
    expect(s.tombstone('b')).toBeUndefined();
    expect(s.chain('c')).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('stays within its bound, dropping the least recently set thread', () => {
    const s = createApplyState(3);
    for (const t of ['a', 'b', 'c']) s.setTombstone(t, null);
    s.setTombstone('a', null); // a is now the most recent
    s.setTombstone('d', null);
    expect(s.size).toBe(3);
    expect(s.tombstone('b')).toBeUndefined();
    expect(s.tombstone('a')).toBeNull();
    expect(s.tombstone('d')).toBeNull();
  });
});
