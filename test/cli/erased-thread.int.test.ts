/**
 * An erased thread in the operator tools (issue 15, "audit after erasure"): timeline shows its
 * events (ids, times, sizes) and the erasure, with no content; audit verifies its hash chain
 * over the stored, encrypted bytes; replay refuses it with a typed error (and opens an
 * encrypted thread that is not erased, with the master key only); a rebuild into a new
 * generation keeps it erased and leaves the key collection alone.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { auditCommand } from '../../src/cli/audit.ts';
import { rebuildCommand } from '../../src/cli/rebuild.ts';
import { replayCommand } from '../../src/cli/replay.ts';
import { timelineCommand } from '../../src/cli/timeline.ts';
import { createLocalKeyProvider, type CheckpointStore } from '../../src/index.ts';
import { createMetaStore } from '../../src/mongo/meta.ts';
import { KEYS_COLLECTION } from '../../src/mongo/key-store.ts';
import type { AuditReport } from '../../src/ops/audit.ts';
import type { TimelineErasure, TimelineRow } from '../../src/ops/timeline.ts';
import { ids, idRange } from '../../src/projection/ids.ts';
import { embeddedProjector } from '../projector/helpers.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { openStore, PARTITIONS, startProjector } from '../store/helpers.ts';
import { capture, stackEnv, writeThread } from './helpers.ts';

const stack = useIsolatedStack();
const masterKey = randomBytes(32);
const keyEnv = { THREADLOG_MASTER_KEY: masterKey.toString('hex') };
const encryption = () => ({ encryption: { keyProvider: createLocalKeyProvider(masterKey) } });
let store: CheckpointStore;
let erasedCps: Checkpoint[];
let keptCps: Checkpoint[];
let erasedAt: { partition: number; offset: string };
const ERASED = 'erased-thread';
const KEPT = 'kept-thread';

beforeAll(async () => {
  await startProjector(stack);
  store = await openStore(stack, encryption());
  erasedCps = await writeThread(store, ERASED, 3);
  keptCps = await writeThread(store, KEPT, 2);
  await store.load({ threadId: KEPT }, { consistency: 'strong' });
  erasedAt = (await store.eraseThread(ERASED, { timeoutMs: 30_000 })).position;
});

describe('an erased thread in the operator tools', () => {
  it('timeline: every event with ids, times and sizes, sealed, and the erasure', async () => {
    const io = capture();
    expect(await timelineCommand(stackEnv(stack), ERASED, { json: true }, io)).toBe(0);
    const out = io.json<{ erased?: TimelineErasure; events: TimelineRow[] }>();
    expect(out.erased).toMatchObject({ partition: erasedAt.partition, offset: erasedAt.offset });
    expect(out.events.map((r) => r.type)).toEqual(['checkpoint', 'writes', 'checkpoint', 'writes', 'checkpoint', 'writes', 'thread-erased']);
    expect(out.events.filter((r) => r.type === 'checkpoint').map((r) => r.checkpointId)).toEqual(erasedCps.map((c) => c.id));
    expect(out.events.filter((r) => r.type !== 'thread-erased').every((r) => r.sealed && r.step === undefined && r.bytes > 0)).toBe(true);
    expect(io.stdout).not.toContain('message 0');
    const table = capture();
    expect(await timelineCommand(stackEnv(stack), ERASED, {}, table)).toBe(0);
    expect(table.stdout).toContain('ERASED at');
  });

  it('audit: the hash chain over the stored (encrypted) bytes verifies, after the erasure too', async () => {
    for (const t of [ERASED, KEPT]) {
      const io = capture();
      const code = await auditCommand(stackEnv(stack), t, { json: true }, io);
      const report = io.json<AuditReport>();
      expect(report.divergences).toEqual([]);
      expect(report.chain.head).toBe(report.chain.expectedHead);
      expect(code).toBe(0);
    }
  });

  it('replay: an erased thread is a typed refusal; an encrypted one opens with the master key, and only with it', async () => {
    const erased = capture();
    expect(await replayCommand(stackEnv(stack, keyEnv), ERASED, { to: erasedCps[1]!.id }, erased)).toBe(2);
    expect(erased.stderr).toContain('was erased');
    expect(erased.stderr).toContain('threadlog timeline');

    const kept = capture();
    expect(await replayCommand(stackEnv(stack, keyEnv), KEPT, { to: keptCps[1]!.id, json: true }, kept)).toBe(0);
    const state = kept.json<{ checkpoint: { channel_values: unknown }; metadata: { step: number }; pendingWrites: Array<{ value: unknown }> }>();
    expect(state.checkpoint.channel_values).toEqual(keptCps[1]!.channel_values);
    expect(state.metadata.step).toBe(1);
    expect(state.pendingWrites.map((w) => w.value)).toEqual(['reply 1']);

    const noKey = capture();
    expect(await replayCommand(stackEnv(stack), KEPT, { to: keptCps[1]!.id }, noKey)).toBe(2);
    expect(noKey.stderr).toContain('THREADLOG_MASTER_KEY_FILE');
  });

  it('rebuild: a new generation built from the log keeps the thread erased; the key collection is left alone', async () => {
    const db = (await stack.mongo()).db(stack.dbName);
    const keysBefore = await db.collection(KEYS_COLLECTION).find({}).sort({ _id: 1 }).toArray();
    const meta = createMetaStore(db);
    const rebuilt = rebuildCommand(stackEnv(stack, keyEnv), { generation: 'v2', quiet: true });
    const rec = await waitFor(() => meta.getGeneration('v2'), { what: 'v2 record' });
    await embeddedProjector(stack, { generation: 'v2', groupId: rec.groupId, partitions: PARTITIONS, redisPrefix: rec.redisPrefix }).start();
    expect(await rebuilt).toBe(0);

    const col = (kind: string) => db.collection<{ _id: string }>(`v2_${kind}`);
    expect(await col('checkpoints').countDocuments({ _id: idRange('cp', KEPT) })).toBe(keptCps.length);
    expect(await col('checkpoints').countDocuments({ _id: idRange('cp', ERASED) })).toBe(0);
    expect(await col('writes').countDocuments({ _id: idRange('w', ERASED) })).toBe(0);
    expect(((await col('tombstones').findOne({ _id: ids.tombstone(ERASED) })) as { erased?: unknown } | null)?.erased).toBeDefined();
    expect(await db.collection(KEYS_COLLECTION).find({}).sort({ _id: 1 }).toArray()).toEqual(keysBefore);

    const v2 = await openStore(stack, { ...encryption(), generation: 'v2', redisKeyPrefix: rec.redisPrefix });
    expect(await v2.load({ threadId: ERASED }, { consistency: 'eventual' })).toBeUndefined();
    expect((await v2.load({ threadId: KEPT }, { consistency: 'eventual' }))?.checkpoint.channel_values).toEqual(keptCps[1]!.channel_values);
    const io = capture();
    expect(await auditCommand(stackEnv(stack, { THREADLOG_GENERATION: 'v2' }), ERASED, { json: true }, io)).toBe(0);
  });
});
