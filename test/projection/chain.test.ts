import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS_LINK, chainIds, nextLink, planChains, type ChainDoc } from '../../src/projection/chain.ts';
import type { PositionedEvent } from '../../src/projection/documents.ts';

const ev = (offset: number, thread = 't', raw: string | undefined = `bytes-${offset}`): PositionedEvent => ({
  event: { type: 'thread-deleted', eventId: `e${offset}`, threadId: thread, ts: 0 },
  position: { partition: 1, offset: String(offset) },
  ...(raw === undefined ? {} : { raw: Buffer.from(raw) }),
});

describe('hash chain', () => {
  it('link_n = sha256(link_{n-1} || stored bytes)', () => {
    const l1 = nextLink(GENESIS_LINK, Buffer.from('a'));
    expect(l1).toBe(createHash('sha256').update(Buffer.alloc(32)).update('a').digest('hex'));
    expect(nextLink(l1, Buffer.from('b'))).toBe(createHash('sha256').update(Buffer.from(l1, 'hex')).update('b').digest('hex'));
  });

  it('chains per thread in log order and skips what the stored head already covers', () => {
    const first = planChains([ev(3), ev(1), ev(2, 'u')], new Map());
    expect(first.links.map((l) => [l.threadId, l.n, l.pos.offset])).toEqual([['t', 1, 1], ['t', 2, 3], ['u', 1, 2]]);
    const head = first.chains.find((c) => c.doc.threadId === 't')!.doc;
    expect(head).toMatchObject({ _id: chainIds.chain('t'), count: 2, pos: { partition: 1, offset: 3 }, first: { partition: 1, offset: 1 } });
    // redelivery of 1 and 3 together with the new 5: only 5 extends the chain
    const next = planChains([ev(1), ev(3), ev(5)], new Map<string, ChainDoc>([['t', head]]));
    expect(next.links.map((l) => l.n)).toEqual([3]);
    expect(next.chains[0]!.doc.head).toBe(nextLink(head.head, Buffer.from('bytes-5')));
    expect(planChains([ev(3)], new Map([['t', next.chains[0]!.doc]]))).toEqual({ chains: [], links: [] });
  });

  it('ignores events without stored bytes', () => {
    const { raw: _raw, ...bare } = ev(1);
    expect(planChains([bare], new Map())).toEqual({ chains: [], links: [] });
  });

  it('link ids sort in log order and stay inside their thread range', () => {
    const a = chainIds.link('t:x', { partition: 1, offset: 9 });
    const b = chainIds.link('t:x', { partition: 1, offset: 10 });
    expect(a < b).toBe(true);
    const r = chainIds.range('link', 't:x');
    expect(a >= r.$gte && a < r.$lt).toBe(true);
    expect(chainIds.link('t:xy', { partition: 1, offset: 1 }) < r.$lt && chainIds.link('t:xy', { partition: 1, offset: 1 }) >= r.$gte).toBe(false);
  });
});
