import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { timelineCommand } from '../../src/cli/timeline.ts';
import { auditCommand } from '../../src/cli/audit.ts';
import { ids } from '../../src/projection/ids.ts';
import type { TimelineRow } from '../../src/ops/timeline.ts';
import type { AuditReport } from '../../src/ops/audit.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { GENERATION, openStore, startProjector } from '../store/helpers.ts';
import { capture, stackEnv, writeThread } from './helpers.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');

describe('timeline and audit', () => {
  const env = () => stackEnv(stack);
  let cps: Checkpoint[];
  let other: Checkpoint[];

  beforeAll(async () => {
    const store = await openStore(stack);
    await startProjector(stack);
    cps = await writeThread(store, 'audited', 4);
    other = await writeThread(store, 'tampered', 3);
    await store.deleteThread('deleted');
    await writeThread(store, 'deleted', 2);
    // strong reads: the projection has caught up with every event above
    for (const t of ['audited', 'tampered', 'deleted']) await store.load({ threadId: t }, { consistency: 'strong' });
  });

  it('shows the events in log order with checkpoint, step, channels, writes and size', async () => {
    const io = capture();
    expect(await timelineCommand(env(), 'audited', { json: true }, io)).toBe(0);
    const rows = io.json<{ events: TimelineRow[] }>().events;
    expect(rows.map((r) => r.type)).toEqual(['checkpoint', 'writes', 'checkpoint', 'writes', 'checkpoint', 'writes', 'checkpoint', 'writes']);
    expect(rows[2]).toMatchObject({ checkpointId: cps[1]!.id, parentCheckpointId: cps[0]!.id, step: 1, source: 'loop' });
    expect(rows[2]!.channels.length).toBeGreaterThan(0);
    expect(rows[3]!.writes).toEqual(['task-1/messages']);
    expect(rows.every((r) => r.bytes > 0)).toBe(true);
    const offsets = rows.map((r) => Number(r.offset));
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);

    const ranged = capture();
    await timelineCommand(env(), 'audited', { json: true, from: cps[1]!.id, to: cps[2]!.id }, ranged);
    expect(ranged.json<{ events: TimelineRow[] }>().events.map((r) => r.checkpointId)).toEqual([cps[1]!.id, cps[1]!.id, cps[2]!.id, cps[2]!.id]);

    const table = capture();
    expect(await timelineCommand(env(), 'audited', {}, table)).toBe(0);
    expect(table.stdout).toContain('checkpoint');
  });

  it('names the topic and the fix for an unknown thread', async () => {
    const io = capture();
    expect(await timelineCommand(env(), 'no-such-thread', {}, io)).not.toBe(0);
    expect(io.stderr).toContain(`no events for thread no-such-thread in ${stack.topicPrefix}.checkpoints`);
    expect(io.stderr).toContain('THREADLOG_TOPIC_PREFIX');
  });

  it('passes a clean projection, a deleted thread included', async () => {
    for (const t of ['audited', 'deleted']) {
      const io = capture();
      const code = await auditCommand(env(), t, { json: true }, io);
      const report = io.json<AuditReport>();
      expect(report.divergences).toEqual([]);
      expect(code).toBe(0);
      expect(report.chain.head).toBe(report.chain.expectedHead);
    }
  });

  it('catches an altered checkpoint document, then a deleted one, at its log position', async () => {
    const db = (await stack.mongo()).db(stack.dbName);
    const col = db.collection<{ _id: string }>(`${GENERATION}_checkpoints`);
    const id = ids.checkpoint('tampered', '', other[1]!.id);
    const original = await col.findOne({ _id: id });
    await col.updateOne({ _id: id }, { $set: { 'metadata.step': 99 } });
    let io = capture();
    expect(await auditCommand(env(), 'tampered', { json: true }, io)).toBe(1);
    let r = io.json<AuditReport>();
    expect(r.first).toMatchObject({ kind: 'altered', docId: id, position: { offset: (original as unknown as { pos: { offset: number } }).pos.offset } });

    await col.deleteOne({ _id: id });
    io = capture();
    expect(await auditCommand(env(), 'tampered', { json: true }, io)).toBe(1);
    r = io.json<AuditReport>();
    expect(r.first).toMatchObject({ kind: 'missing', docId: id });

    const table = capture();
    expect(await auditCommand(env(), 'tampered', {}, table)).toBe(1);
    expect(table.stdout).toContain('first divergence (missing)');

    const all = capture();
    expect(await auditCommand(env(), undefined, { all: true, json: true }, all)).toBe(1);
    expect(all.json<{ threads: number; divergent: number }>()).toMatchObject({ threads: 3, divergent: 1 });
    await col.insertOne(original!);
    expect(await auditCommand(env(), undefined, { all: true }, capture())).toBe(0);
  });

  it('runs through the real binary', () => {
    for (const cmd of ['timeline', 'audit']) {
      const r = spawnSync(process.execPath, [path.join(root, 'bin/threadlog.mjs'), cmd, '--help'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: threadlog ${cmd}`);
    }
  });
});
