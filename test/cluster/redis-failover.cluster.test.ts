/**
 * kill -9 of a Redis Cluster master under a steady load: its replica is promoted; reads keep
 * answering (from MongoDB while the slot moves); once the failover is over heads never move
 * backwards and Redis holds every head MongoDB has; reads that wait on watermarks recover.
 */
import { describe, expect, it } from 'vitest';
import { createCheckpointStore, createProjector, type CheckpointStore } from '../../src/index.ts';
import type { Receipt } from '../../src/events/types.ts';
import { createRedisCache } from '../../src/redis/cache.ts';
import { waitFor } from '../support/isolation.ts';
import { clusterScript, killNode, masterPortOf, redisNodeName, redisRole, useClusterStack, waitRedisClusterOk } from './support/cluster.ts';
import { quantile, report, startSaveLoad } from './support/load.ts';

const stack = useClusterStack();
const PARTITIONS = 6;

async function openStore(extra: Partial<Parameters<typeof createCheckpointStore>[0]> = {}): Promise<CheckpointStore> {
  return createCheckpointStore({
    kafka: { brokers: stack.endpoints.kafkaBrokers },
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { clusterNodes: stack.endpoints.redisNodes },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    ...extra,
  });
}

/** port of the replica of the master on `masterPort`, from CLUSTER NODES */
async function replicaOf(masterPort: number): Promise<number> {
  const nodes = String(await stack.redis().call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
  const master = nodes.find((n) => n[1]!.startsWith(`127.0.0.1:${masterPort}@`))!;
  const replica = nodes.find((n) => n[2]!.includes('slave') && n[3] === master[0]);
  if (!replica) throw new Error(`master ${masterPort} has no replica`);
  return Number(replica[1]!.split(':')[1]!.split('@')[0]);
}

interface Read {
  at: number;
  thread: string;
  id: string | undefined;
  /** served by MongoDB (a first read of a new head is, Redis up or not) */
  fromMongo: boolean;
  /** the store had Redis marked unavailable after this read: it went to MongoDB for that */
  degraded: boolean;
  error?: unknown;
}

describe('a Redis Cluster master killed under load', () => {
  it('promotes its replica; reads answer throughout, heads never move backwards afterwards, watermark waits recover', async () => {
    const projector = createProjector({ topicPrefix: stack.topicPrefix, generation: 'v1', partitions: PARTITIONS, brokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName, redisClusterNodes: stack.endpoints.redisNodes, redisPrefix: stack.redisPrefix });
    await projector.start();
    const writer = await openStore();
    const reader = await openStore({ l1MaxBytes: 0 }); // every head read goes to Redis or MongoDB
    const waiter = await openStore({ l1MaxBytes: 0, readTimeoutMs: 30_000 });
    const mongoOnly = await openStore({ redis: false, l1MaxBytes: 0 });
    const cache = createRedisCache({ redis: stack.redis(), prefix: stack.redisPrefix });
    const topic = `${stack.topicPrefix}.checkpoints`;
    try {
      const threads = Array.from({ length: 24 }, (_, i) => stack.unique(`rf${i}`));
      const masterOf = new Map(await Promise.all(threads.map(async (t) => [t, await masterPortOf(stack.redis(), cache.keys.head(t, ''))] as const)));
      const counts = new Map<number, number>();
      for (const p of masterOf.values()) counts.set(p, (counts.get(p) ?? 0) + 1);
      const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      const replica = await replicaOf(victim);
      const onVictim = threads.filter((t) => masterOf.get(t) === victim);

      const load = startSaveLoad(writer, { threads, workers: 6, ratePerSec: 60 });
      let stop = false;
      const reads: Read[] = [];
      const readLoop = (async () => {
        while (!stop) {
          for (const thread of onVictim) {
            const before = reader.stats().hits.l3;
            const at = Date.now();
            try {
              const got = await reader.load({ threadId: thread }, { consistency: 'eventual' });
              reads.push({ at, thread, id: got?.checkpointId, fromMongo: reader.stats().hits.l3 > before, degraded: reader.stats().redisDegraded });
            } catch (error) {
              reads.push({ at, thread, id: undefined, fromMongo: false, degraded: reader.stats().redisDegraded, error });
            }
          }
        }
      })();
      // reads that wait for the projector: a receipt handed over from the writer
      const waits: Array<{ at: number; ms: number; ok: boolean; error?: unknown }> = [];
      const waitLoop = (async () => {
        while (!stop) {
          const last = [...load.outcomes].reverse().find((o) => o.receipt !== undefined && onVictim.includes(o.threadId));
          if (!last) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          const at = Date.now();
          try {
            const got = await waiter.load({ threadId: last.threadId }, { after: last.receipt as Receipt });
            waits.push({ at, ms: Date.now() - at, ok: got !== undefined && got.checkpointId >= last.checkpointId });
          } catch (error) {
            waits.push({ at, ms: Date.now() - at, ok: false, error });
          }
        }
      })();

      await waitFor(() => load.acked() >= 300 && reads.length >= 200, { timeoutMs: 60_000, what: 'load and reads under way' });
      const killedAt = Date.now();
      const watermarksAtKill = await cache.getWatermarks(topic);
      await killNode(stack.endpoints, redisNodeName(victim));
      await waitFor(async () => (await redisRole(`127.0.0.1:${replica}`)) === 'master', { timeoutMs: 60_000, intervalMs: 100, what: `replica ${replica} promoted` });
      const promotedAt = Date.now();
      // the failover is over once the projector claimed a batch of every partition since
      await waitFor(async () => {
        const wm = await cache.getWatermarks(topic);
        return [...watermarksAtKill].every(([p, o]) => BigInt(wm.get(p) ?? '-1') > BigInt(o));
      }, { timeoutMs: 120_000, intervalMs: 100, what: 'watermarks of every partition advancing after the failover' });
      const recoveredAt = Date.now();
      const readsAtRecovery = reads.length;
      await waitFor(() => reads.length >= readsAtRecovery + 100 && waits.filter((w) => w.at > recoveredAt).length >= 10, { timeoutMs: 90_000, what: 'reads after the failover' });
      stop = true;
      await Promise.all([readLoop, waitLoop, load.stop()]);

      // reads kept answering: no read failed, and MongoDB answered while the slot moved
      expect(reads.filter((r) => r.error !== undefined).map((r) => String(r.error))).toEqual([]);
      const fromMongo = reads.filter((r) => r.at >= killedAt && r.fromMongo);
      // while the slot moved, Redis was unavailable to the store: those reads went to MongoDB
      const degraded = reads.filter((r) => r.at >= killedAt && r.degraded && r.fromMongo);
      expect(degraded.length).toBeGreaterThan(0);
      // heads never move backwards once the failover is over: after it, each thread's reads
      // are in order, and none is older than anything read before the kill
      const regressions: string[] = [];
      const during: string[] = [];
      for (const t of onVictim) {
        const seen = reads.filter((r) => r.thread === t && r.id !== undefined);
        const beforeKill = seen.filter((r) => r.at < killedAt).map((r) => r.id!);
        let floor = beforeKill.reduce((a, b) => (a > b ? a : b), '');
        for (const r of seen.filter((x) => x.at >= killedAt)) {
          if (r.id! < floor) (r.at >= recoveredAt ? regressions : during).push(`${t}: ${r.id} after ${floor} at +${r.at - killedAt} ms`);
          else floor = r.id!;
        }
      }
      expect(regressions).toEqual([]);
      // watermark waits recovered: every wait started after the failover was answered
      const afterwards = waits.filter((w) => w.at >= recoveredAt);
      expect(afterwards.length).toBeGreaterThan(0);
      expect(afterwards.filter((w) => !w.ok).map((w) => String(w.error))).toEqual([]);
      const waitsDuring = waits.filter((w) => w.at >= killedAt - 1_000 && w.at < recoveredAt);

      // Redis holds every head MongoDB has (nothing lost with the master)
      await waitFor(async () => {
        for (const t of threads) {
          const [r, m] = await Promise.all([cache.getHead(t, ''), mongoOnly.load({ threadId: t }, { consistency: 'eventual' })]);
          if (r?.checkpointId !== m?.checkpointId) return false;
        }
        return true;
      }, { timeoutMs: 60_000, intervalMs: 500, what: 'Redis heads equal to MongoDB heads' });

      const l3 = degraded.map((r) => r.at - killedAt);
      report('Redis master kill -9 (cluster-node-timeout 3000 ms)', {
        promotedAfterMs: promotedAt - killedAt,
        failoverOverAfterMs: recoveredAt - killedAt,
        reads: reads.length,
        readErrors: 0,
        readsFromMongoAfterKill: fromMongo.length,
        // reads sent to MongoDB because Redis was unavailable: first and last, ms after the kill
        redisUnavailableReads: degraded.length,
        redisUnavailableWindowMs: [Math.min(...l3), Math.max(...l3)],
        // per second since the kill: reads with Redis unavailable / all reads
        degradedBySecond: Array.from({ length: Math.ceil((Date.now() - killedAt) / 1000) }, (_, s) => {
          const inSec = reads.filter((r) => r.at >= killedAt + s * 1000 && r.at < killedAt + (s + 1) * 1000);
          return `${inSec.filter((r) => r.degraded).length}/${inSec.length}`;
        }).join(' '),
        mongoShareBeforeKill: `${reads.filter((r) => r.at < killedAt && r.fromMongo).length}/${reads.filter((r) => r.at < killedAt).length}`,
        headRegressionsDuringFailover: during.length,
        waitsDuringFailover: { n: waitsDuring.length, failed: waitsDuring.filter((w) => !w.ok).length, p50Ms: quantile(waitsDuring.map((w) => w.ms), 0.5), maxMs: Math.max(...waitsDuring.map((w) => w.ms)) },
        saveFailures: load.outcomes.filter((o) => o.error !== undefined).length,
      });

      // the killed node comes back as a replica of the one that replaced it
      await clusterScript('up');
      await waitFor(async () => (await redisRole(`127.0.0.1:${victim}`)) === 'slave', { timeoutMs: 60_000, what: `${victim} rejoining as a replica` });
    } finally {
      await Promise.all([writer.close(), reader.close(), waiter.close(), mongoOnly.close()]);
      await projector.stop();
      await clusterScript('up');
      await waitRedisClusterOk(stack.endpoints);
    }
  }, 600_000);
});
