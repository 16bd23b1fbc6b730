/**
 * Kafka node failures on the 3-broker cluster (replication factor 3, min.insync.replicas=2,
 * acks=all, idempotent producer), with a store saving and a projector projecting through a
 * Redis Cluster:
 * - kill -9 of the leader of the busiest partition during a burst of saves: every save
 *   settles within the appender's bound (appendTimeoutMs) with a receipt or a typed retriable
 *   error, every acknowledged save is in the log exactly once at its receipt, and the
 *   projector carries on to a projection equal to one rebuilt from the log;
 * - a rolling restart of all three brokers under a steady load: nothing acknowledged lost,
 *   nothing duplicated in the log or in the projection.
 */
import { describe, expect, it } from 'vitest';
import { createCheckpointStore, createProjector, type CheckpointStore, type Projector } from '../../src/index.ts';
import { partitionFor } from '../../src/kafka/partition.ts';
import { waitFor } from '../support/isolation.ts';
import { clusterScript, kafkaNodeName, killNode, leaders, useClusterStack, waitInSync } from './support/cluster.ts';
import { expectAckedExactlyOnce, expectEqualToRebuilt, expectSettledWithin, longestAckGap, quantile, readLog, report, startSaveLoad, waitCommittedToEnd } from './support/load.ts';

const stack = useClusterStack();
const PARTITIONS = 6;
/** the stated bound: a save settles within the appender's appendTimeoutMs, plus scheduling slack */
const APPEND_TIMEOUT_MS = 30_000;
const BOUND_MS = APPEND_TIMEOUT_MS + 2_000;

async function openStore(): Promise<CheckpointStore> {
  return createCheckpointStore({
    kafka: { brokers: stack.endpoints.kafkaBrokers },
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { clusterNodes: stack.endpoints.redisNodes },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    appender: { appendTimeoutMs: APPEND_TIMEOUT_MS },
  });
}

function startProjector(generation: string): Projector {
  return createProjector({
    topicPrefix: stack.topicPrefix,
    generation,
    partitions: PARTITIONS,
    brokers: stack.endpoints.kafkaBrokers,
    mongoUrl: stack.endpoints.mongoUrl,
    mongoDbName: stack.dbName,
    redisClusterNodes: stack.endpoints.redisNodes,
    redisPrefix: `${stack.redisPrefix}${generation}:`,
  });
}

describe('Kafka broker failures on the 3-broker cluster', () => {
  it('kill -9 of the busiest partition leader during a burst: saves settle, acknowledged ones are in the log once, the projection carries on', async () => {
    const topic = `${stack.topicPrefix}.checkpoints`;
    const store = await openStore();
    const projector = startProjector('kill');
    await projector.start();
    try {
      const admin = await stack.admin();
      // 64 threads; the partition holding the most of them is the busy one
      const threads = Array.from({ length: 64 }, (_, i) => stack.unique(`burst${i}`));
      const perPartition = new Map<number, number>();
      for (const t of threads) perPartition.set(partitionFor(t, PARTITIONS), (perPartition.get(partitionFor(t, PARTITIONS)) ?? 0) + 1);
      const busy = [...perPartition].sort((a, b) => b[1] - a[1])[0]![0];
      const load = startSaveLoad(store, { threads, workers: 32 });
      await waitFor(() => load.acked() >= 1_500, { timeoutMs: 120_000, what: 'a burst under way' });
      const leader = (await leaders(admin, topic)).get(busy)!;
      const killedAt = Date.now();
      await killNode(stack.endpoints, kafkaNodeName(leader));
      // the burst goes on against the two survivors until a new leader took the partition
      // and saves are acknowledged again
      const ackedAtKill = load.acked();
      await waitFor(async () => (await leaders(admin, topic)).get(busy) !== leader, { timeoutMs: 60_000, intervalMs: 200, what: `a new leader for partition ${busy}` });
      const electedAt = Date.now();
      await waitFor(() => load.acked() >= ackedAtKill + 1_000, { timeoutMs: 90_000, what: 'saves acknowledged again after the kill' });
      await load.stop();
      const stoppedAt = Date.now();

      expectSettledWithin(load.outcomes, BOUND_MS);
      const failed = load.outcomes.filter((o) => o.error !== undefined);
      const latencies = load.outcomes.filter((o) => o.startedAt >= killedAt - 1_000 && o.startedAt <= electedAt).map((o) => o.settledAt! - o.startedAt);
      report('kafka leader kill -9 during a burst', {
        saves: load.outcomes.length,
        acked: load.acked(),
        failed: failed.length,
        failedCodes: [...new Set(failed.map((f) => (f.error as { code?: string }).code))],
        leaderElectedAfterMs: electedAt - killedAt,
        longestAckGapMs: longestAckGap(load.outcomes, killedAt, stoppedAt),
        savesInFlightAtKill: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: Math.max(...latencies) },
      });

      // the broker comes back and catches up; then the log and the projection are checked
      await clusterScript('up');
      await waitInSync(admin, [topic]);
      const log = await readLog(stack, topic);
      expectAckedExactlyOnce(load.outcomes, log);
      await waitCommittedToEnd(stack, projector.groupId, topic, 240_000);
      await projector.stop();
      const projection = await expectEqualToRebuilt(stack, 'kill', PARTITIONS);
      expect(projection.checkpoints!.length).toBe(log.positions.size);
    } finally {
      await store.close();
      await projector.stop();
    }
  }, 900_000);

  it('a rolling restart of all three brokers under a steady load loses and duplicates nothing', async () => {
    const topic = `${stack.topicPrefix}.checkpoints`;
    const store = await openStore();
    const projector = startProjector('rolling');
    await projector.start();
    try {
      const admin = await stack.admin();
      const threads = Array.from({ length: 30 }, (_, i) => stack.unique(`steady${i}`));
      const load = startSaveLoad(store, { threads, workers: 8, ratePerSec: 100 });
      await waitFor(() => load.acked() >= 300, { timeoutMs: 60_000, what: 'a steady load under way' });
      const restarts: Array<{ node: number; stoppedMs: number; backInSyncMs: number; longestAckGapMs: number }> = [];
      for (const node of [1, 2, 3]) {
        const began = Date.now();
        // SIGTERM: a controlled shutdown, which hands its leaderships over first
        await killNode(stack.endpoints, kafkaNodeName(node), 'SIGTERM');
        const stopped = Date.now();
        await clusterScript('up');
        await waitInSync(admin, [topic, '__consumer_offsets']);
        const inSync = Date.now();
        restarts.push({ node, stoppedMs: stopped - began, backInSyncMs: inSync - stopped, longestAckGapMs: longestAckGap(load.outcomes, began, inSync) });
      }
      const acked = load.acked();
      await waitFor(() => load.acked() >= acked + 200, { timeoutMs: 60_000, what: 'saves after the last restart' });
      await load.stop();
      expectSettledWithin(load.outcomes, BOUND_MS);
      const failed = load.outcomes.filter((o) => o.error !== undefined);
      report('rolling restart of 3 brokers at 100 saves/s', { saves: load.outcomes.length, acked: load.acked(), failed: failed.length, restarts });

      const log = await readLog(stack, topic);
      expectAckedExactlyOnce(load.outcomes, log);
      // nothing duplicated in the log at all (failed saves included)
      expect([...log.positions.values()].filter((p) => p.length > 1)).toEqual([]);
      await waitCommittedToEnd(stack, projector.groupId, topic, 240_000);
      await projector.stop();
      // every checkpoint of the log projected, once: the projection is the log's, document by document
      const projection = await expectEqualToRebuilt(stack, 'rolling', PARTITIONS);
      expect(projection.checkpoints!.length).toBe(log.positions.size);
    } finally {
      await store.close();
      await projector.stop();
    }
  }, 900_000);
});
