import { describe, expect, it } from 'vitest';
import { layoutTree, type LaneInput } from '../../web/src/lanes.ts';

const cp = (id: string, parent: string | null, ns = ''): LaneInput => ({ checkpointId: id, checkpointNs: ns, parentCheckpointId: parent });

describe('layoutTree', () => {
  it('puts a straight history in one lane', () => {
    const { rows, width } = layoutTree([cp('3', '2'), cp('2', '1'), cp('1', null)]);
    expect(width).toBe(1);
    expect(rows.map((r) => (r.kind === 'node' ? [r.lane, r.joins, r.through, r.down] : null))).toEqual([
      [0, [], [], true],
      [0, [0], [], true],
      [0, [0], [], false],
    ]);
  });

  it('shows a fork as a second lane that joins at the checkpoint both branches continue from', () => {
    // 1 <- 2 <- 3 (first branch), 1 <- 4 (a fork from 1, newer ids)
    const { rows, width } = layoutTree([cp('5', '4'), cp('4', '1'), cp('3', '2'), cp('2', '1'), cp('1', null)]);
    expect(width).toBe(2);
    const nodes = rows.flatMap((r) => (r.kind === 'node' ? [r] : []));
    expect(nodes.map((n) => [n.item.checkpointId, n.lane])).toEqual([['5', 0], ['4', 0], ['3', 1], ['2', 1], ['1', 0]]);
    // the older branch passes beside the newer one's nodes
    expect(nodes[2]!.through).toEqual([0]);
    const fork = nodes[4]!;
    expect(fork.joins).toEqual([0, 1]);
    expect(fork.children).toBe(2);
  });

  it('groups a run of subgraph checkpoints into one row the root lanes pass through', () => {
    const { rows } = layoutTree([cp('4', '3'), cp('s2', 's1', 'sub:a'), cp('s1', null, 'sub:a'), cp('3', '1'), cp('1', null)]);
    expect(rows.map((r) => r.kind)).toEqual(['node', 'group', 'node', 'node']);
    const group = rows[1]!;
    expect(group.kind === 'group' && group.items.map((i) => i.checkpointId)).toEqual(['s2', 's1']);
    expect(group.kind === 'group' && group.through).toEqual([0]);
  });

  it('keeps a lane open for a parent on a page not loaded yet', () => {
    const { rows } = layoutTree([cp('9', '8'), cp('8', '7')]);
    expect(rows.at(-1)).toMatchObject({ kind: 'node', down: true });
  });
});
