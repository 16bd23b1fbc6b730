/**
 * A log that really holds an append onto a missing base (as a producer in another language, or
 * an old client, could write one): the projector notices it when it projects it — metric,
 * warning, a recorded report that the store's health() reads — the audit names it, and only
 * that checkpoint fails to read: the thread's intact checkpoints and other threads read as
 * usual.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createEventCodec } from '../../src/events/codec.ts';
import type { ChannelValue, CheckpointEvent, Receipt } from '../../src/events/types.ts';
import { isThreadlogError } from '../../src/errors.ts';
import { auditCommand } from '../../src/cli/audit.ts';
import type { AuditReport } from '../../src/ops/audit.ts';
import { createProblemStore } from '../../src/mongo/problem-store.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpointEvent } from '../events/fixtures.ts';
import { capture, stackEnv } from '../cli/helpers.ts';
import { GENERATION, openStore, PARTITIONS } from '../store/helpers.ts';
import { embeddedProjector, logWriter, makeTopics, waitCaughtUp } from './helpers.ts';

const stack = useIsolatedStack();
const codec = createEventCodec();
const registry = new Registry();
const projector = embeddedProjector(stack, { generation: GENERATION, partitions: PARTITIONS, registry });
const ids = ['1ef00000-0000-6000-8000-000000000001', '1ef00000-0000-6000-8000-000000000002', '1ef00000-0000-6000-8000-000000000003'];
let receipts: Receipt[];

const json = (v: unknown) => ({ type: 'json', value: new TextEncoder().encode(JSON.stringify(v)) });
function cp(threadId: string, i: number, value: ChannelValue): CheckpointEvent {
  const base = checkpointEvent({ threadId, checkpointId: ids[i]!, values: [value] });
  return { ...base, ...(i === 0 ? { parentCheckpointId: undefined } : { parentCheckpointId: ids[i - 1]! }), checkpoint: { ...base.checkpoint, id: ids[i]!, channel_versions: { messages: value.version } } };
}

beforeAll(async () => {
  const topic = await makeTopics(stack, PARTITIONS);
  await projector.start();
  const writer = logWriter(stack, codec, PARTITIONS);
  receipts = await writer.write([
    cp('foreign', 0, { kind: 'snapshot', channel: 'messages', version: 1, value: json(['a']) }),
    // appends onto version 2, which no event ever carried (the checkpoint it names holds version 1)
    cp('foreign', 1, { kind: 'append', channel: 'messages', version: 3, base: 2, depth: 1, baseLength: 2, baseCheckpoint: ids[0]!, items: [json('c')] }),
    cp('foreign', 2, { kind: 'snapshot', channel: 'messages', version: 4, value: json(['a', 'b', 'c', 'd']) }),
    cp('intact', 0, { kind: 'snapshot', channel: 'messages', version: 1, value: json(['x']) }),
    cp('intact', 1, { kind: 'append', channel: 'messages', version: 2, base: 1, depth: 1, baseLength: 1, baseCheckpoint: ids[0]!, items: [json('y')] }),
    // its base is there, but has 2 elements where the delta says 5: it would read back a wrong list
    cp('mismatch', 0, { kind: 'snapshot', channel: 'messages', version: 1, value: json(['a', 'b']) }),
    cp('mismatch', 1, { kind: 'append', channel: 'messages', version: 2, base: 1, depth: 1, baseLength: 5, baseCheckpoint: ids[0]!, items: [json('c')] }),
  ]);
  await writer.close();
  await waitCaughtUp(stack, stack.redisPrefix, topic);
});

describe('a delta whose base is not in the log', () => {
  it('is counted, warned about and recorded by the projector', async () => {
    const metrics = await registry.getSingleMetricAsString('threadlog_projector_broken_deltas_total');
    expect(metrics).toMatch(/threadlog_projector_broken_deltas_total 1$/m);
    expect(projector.warnings().join('\n')).toMatch(/thread "foreign" checkpoint 1ef00000-0000-6000-8000-000000000002 channel "messages" version 3 → missing base 2/);
    // a warning, not a reason to restart the process
    expect(projector.health()).toEqual([]);
    const problems = await createProblemStore((await stack.mongo()).db(stack.dbName), GENERATION).list({ threadId: 'foreign' });
    expect(problems).toMatchObject([{ checkpointId: ids[1], channel: 'messages', version: 3, base: 2, pos: { partition: receipts[1]!.partition, offset: Number(receipts[1]!.offset) } }]);
  });

  it("is in the store's health(), which stays usable", async () => {
    const store = await openStore(stack);
    const h = await store.health();
    expect(h.status).toBe('degraded');
    expect(h.reasons.join('\n')).toMatch(/1 checkpoint value\(s\) are append deltas without their base/);
  });

  it('fails only its own reads; the thread’s intact checkpoints and other threads read', async () => {
    const store = await openStore(stack, { writeThrough: false });
    const e = await store.load({ threadId: 'foreign', checkpointId: ids[1]! }, { consistency: 'eventual' }).catch((err: unknown) => err);
    expect(isThreadlogError(e, 'broken-delta-chain')).toBe(true);
    expect((await store.load({ threadId: 'foreign', checkpointId: ids[0]! }, { consistency: 'eventual' }))?.checkpoint.channel_values.messages).toEqual(['a']);
    expect((await store.load({ threadId: 'foreign' }, { consistency: 'eventual' }))?.checkpoint.channel_values.messages).toEqual(['a', 'b', 'c', 'd']);
    expect((await store.load({ threadId: 'intact' }, { consistency: 'eventual' }))?.checkpoint.channel_values.messages).toEqual(['x', 'y']);
  });

  it('a list of the thread hands out the newer checkpoints, then fails at the broken one, never skipping it', async () => {
    const store = await openStore(stack, { writeThrough: false });
    const seen: string[] = [];
    const e = await (async () => {
      for await (const c of store.list({ threadId: 'foreign', consistency: 'eventual' })) seen.push(c.checkpointId);
    })().catch((err: unknown) => err);
    expect(seen).toEqual([ids[2]]);
    expect(isThreadlogError(e, 'broken-delta-chain')).toBe(true);
  });

  it('a delta whose base has another length than it says fails its read (never a wrong list), and the audit names it', async () => {
    const store = await openStore(stack, { writeThrough: false });
    const e = await store.load({ threadId: 'mismatch' }, { consistency: 'eventual' }).catch((err: unknown) => err);
    expect(isThreadlogError(e, 'broken-delta-chain')).toBe(true);
    expect((e as Error).message).toMatch(/extends 5 elements, its base has 2/);
    expect((await store.load({ threadId: 'mismatch', checkpointId: ids[0]! }, { consistency: 'eventual' }))?.checkpoint.channel_values.messages).toEqual(['a', 'b']);
    const io = capture();
    expect(await auditCommand(stackEnv(stack), 'mismatch', { json: true }, io)).toBe(1);
    expect(io.json<AuditReport>().assembly.problems).toMatchObject([{ kind: 'length-mismatch', checkpointId: ids[1] }]);
  });

  it('is named by the audit (exit 1), while an intact thread passes', async () => {
    const io = capture();
    expect(await auditCommand(stackEnv(stack), 'foreign', { json: true }, io)).toBe(1);
    const r = io.json<AuditReport>();
    expect(r.divergences).toEqual([]); // the log and the projection agree: the log itself is broken
    expect(r.assembly.problems).toMatchObject([{ kind: 'missing-base', checkpointId: ids[1], version: 3, base: 2, position: { partition: receipts[1]!.partition, offset: receipts[1]!.offset } }]);
    const table = capture();
    await auditCommand(stackEnv(stack), 'foreign', {}, table);
    expect(table.stdout).toMatch(/BROKEN CHAIN at/);
    expect(table.stdout).toMatch(/1 of 3 checkpoints cannot be assembled/);
    const ok = capture();
    expect(await auditCommand(stackEnv(stack), 'intact', { json: true }, ok)).toBe(0);
  });

  it('a deleted thread takes its reports along', async () => {
    const store = await openStore(stack);
    await store.deleteThread('foreign');
    const problems = createProblemStore((await stack.mongo()).db(stack.dbName), GENERATION);
    await waitFor(async () => (await problems.list({ threadId: 'foreign' })).length === 0, { what: 'the reports of the deleted thread to go' });
    expect((await store.health()).reasons.join('\n')).not.toMatch(/without their base/);
  });
});
