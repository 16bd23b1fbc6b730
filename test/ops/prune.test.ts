import { describe, expect, it } from 'vitest';
import { parseDuration, planPrune, type PruneBlob, type PruneCheckpoint, type PruneWrite } from '../../src/ops/prune.ts';
import { ids } from '../../src/projection/ids.ts';

const T = 't';
const cp = (n: number, parent?: number, ts = n, versions: Record<string, number> = { a: n }): PruneCheckpoint => ({
  _id: ids.checkpoint(T, '', `c${n}`),
  checkpointNs: '',
  checkpointId: `c${n}`,
  ...(parent === undefined ? {} : { parentCheckpointId: `c${parent}` }),
  channelVersions: versions,
  ts,
  pos: { partition: 0, offset: n * 10 },
});
const w = (n: number, channel = 'a'): PruneWrite => ({ _id: ids.write(T, '', `c${n}`, 'task', 0) + channel, checkpointNs: '', checkpointId: `c${n}`, channel });
const blob = (version: number, base?: number): PruneBlob => ({
  _id: ids.blob(T, '', 'a', version), checkpointNs: '', channel: 'a', version, ...(base === undefined ? {} : { base }), pos: { partition: 0, offset: version * 10 },
});

describe('planPrune', () => {
  const chain = [cp(1), cp(2, 1), cp(3, 2), cp(4, 3), cp(5, 4)];
  it('keeps the newest N and their parents, drops the rest with their writes and blobs', () => {
    const plan = planPrune(T, chain, [w(1), w(2), w(4), w(5)], [1, 2, 3, 4, 5].map((v) => blob(v)), { keep: 1 });
    expect(new Set(plan.remove.checkpoints)).toEqual(new Set([cp(1)._id, cp(2, 1)._id, cp(3, 2)._id]));
    // c4 is c5's parent: kept with its writes
    expect(new Set(plan.remove.writes)).toEqual(new Set([w(1)._id, w(2)._id]));
    expect(new Set(plan.remove.blobs)).toEqual(new Set([blob(1)._id, blob(2)._id, blob(3)._id]));
  });

  it('keeps a leaf with pending writes (an interrupt) on a side branch, and delta bases', () => {
    const fork = [...chain, cp(6, 2)];
    const blobs = [blob(1), blob(2, 1), blob(3), blob(4), blob(5), blob(6, 2)];
    const plan = planPrune(T, fork, [w(6, '__interrupt__')], blobs, { keep: 1 });
    // c6 is the newest id here, c5 has no writes: kept c6 (newest + interrupt) and its parent c2
    expect(plan.remove.checkpoints).not.toContain(cp(6, 2)._id);
    expect(plan.remove.checkpoints).not.toContain(cp(2, 1)._id);
    // c6's value is an append on 2, itself an append on 1: the whole chain stays
    expect(plan.remove.blobs).not.toContain(blob(1)._id);
    expect(plan.remove.blobs).not.toContain(blob(2, 1)._id);
  });

  it('with a cut-off keeps everything saved after it', () => {
    const plan = planPrune(T, chain, [], [], { keep: 1, olderThan: 3 });
    expect(plan.remove.checkpoints).toEqual([cp(1)._id]);
  });

  it('parses durations', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
  });
});
