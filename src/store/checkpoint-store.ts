/**
 * createCheckpointStore(): wires the write path (codec, append deltas, appender) and the read
 * path (L1 → Redis → MongoDB, consistency waits on projector watermarks) into one
 * CheckpointStore. Whoever creates a client closes it: clients passed in are left open.
 */
import { ThreadlogError } from '../errors.ts';
import { createEventCodec } from '../events/codec.ts';
import { createDeltaEncoder } from '../events/deltas.ts';
import { validateCheckpointId, validateCheckpointNs, validateThreadId } from '../events/validate.ts';
import { createAppender } from '../kafka/appender.ts';
import { createAppenderMetrics, noopAppenderMetrics } from '../kafka/metrics.ts';
import { partitionFor } from '../kafka/partition.ts';
import { checkpointsTopic, ensureTopics } from '../kafka/topics.ts';
import { mapKafkaError } from '../kafka/client.ts';
import { createProjectionStore } from '../mongo/projection-store.ts';
import { createProjector, type Projector } from '../projector/index.ts';
import { createRedisCache } from '../redis/cache.ts';
import { createAssembler } from './assemble.ts';
import { openConnections } from './connections.ts';
import { checkHealth } from './health.ts';
import { createInvalidation } from './invalidation.ts';
import { createL1Cache } from './l1-cache.ts';
import { createListing } from './listing.ts';
import { createStoreMetrics } from './metrics.ts';
import { createOwnReads } from './own-reads.ts';
import { createOwnWrites } from './own-writes.ts';
import { resolveOptions, type CheckpointStoreInput } from './options.ts';
import { createReader } from './reader.ts';
import { createRedisGuard } from './redis-guard.ts';
import { createRequirements } from './requirements.ts';
import { createSessionTracker } from './session.ts';
import type { CheckpointStore, StoreStats } from './types.ts';
import { createWatermarkWaiter } from './watermarks.ts';
import { createWriter } from './writer.ts';

export async function createCheckpointStore(input: CheckpointStoreInput): Promise<CheckpointStore> {
  const o = resolveOptions(input);
  const log = o.logger.child({ component: 'checkpoint-store' });
  const topic = checkpointsTopic(o.topicPrefix);
  const conn = await openConnections(o, o.logger);
  const metrics = createStoreMetrics(o.registry, o.metricsPrefix);
  try {
    if (o.ensureTopics) {
      const admin = conn.kafka.admin();
      try {
        await admin.connect();
        await ensureTopics({ admin, prefix: o.topicPrefix, partitions: o.partitions });
      } catch (e) {
        throw mapKafkaError(e, 'provisioning topics', 'kafka-unavailable');
      } finally {
        await admin.disconnect();
      }
    }
  } catch (e) {
    await conn.close();
    throw e;
  }

  const codec = createEventCodec({ serializer: o.serializer });
  const deltas = createDeltaEncoder({ serializer: o.serializer, snapshotEvery: o.snapshotEvery });
  const appender = createAppender({
    topic,
    partitions: o.partitions,
    kafka: conn.kafka,
    logger: o.logger,
    metrics: o.registry === undefined ? noopAppenderMetrics : createAppenderMetrics({ registry: o.registry, prefix: o.metricsPrefix }),
    ...o.appender,
  });
  const projection = createProjectionStore({ db: conn.db, generation: o.generation, logger: o.logger });
  const cache = conn.redis === undefined ? undefined : createRedisCache({ redis: conn.redis, prefix: o.redisKeyPrefix, ttlSeconds: o.redisTtlSeconds, tombstoneTtlSeconds: o.redisTombstoneTtlSeconds, logger: o.logger });
  const guard = createRedisGuard({ enabled: cache !== undefined, timeoutMs: o.redisTimeoutMs, cooldownMs: o.redisCooldownMs, logger: log, onDegraded: (what) => metrics.redisDegraded(what) });
  const l1 = createL1Cache(o.l1MaxBytes);
  const session = createSessionTracker();
  const own = o.writeThrough && o.l1MaxBytes > 0 ? createOwnWrites({ maxBytes: Math.floor(o.l1MaxBytes / 4), l1, session }) : undefined;
  const waiter = createWatermarkWaiter({ topic, cache, guard, projection, logger: log, slowPollMs: o.watermarkPollMs, mongoPollMs: o.mongoWatermarkPollMs });
  const requirements = createRequirements({ kafka: conn.kafka, topic, session, defaultConsistency: o.consistency });
  const assembler = createAssembler(projection, l1, codec);
  const reader = createReader({ projection, cache, guard, l1, assembler, session, waiter, metrics });
  const ownReads = own && createOwnReads({ own, reader, assembler, topic, defaultConsistency: o.consistency });
  const listing = createListing({ projection, reader, requirements, waiter, partitions: o.partitions, pageSize: o.pageSize, timeoutMs: o.readTimeoutMs });

  function forget(threadId: string, position: { partition: number; offset: string }): void {
    session.markDeleted(threadId, position);
    l1.dropThread(threadId);
    own?.forget(threadId, position);
  }
  const invalidation = createInvalidation(conn.redis, `${o.redisKeyPrefix}deleted`, guard, log, forget);
  const writer = createWriter({
    codec,
    deltas,
    appender,
    session,
    own,
    onDeleted(threadId, receipt) {
      forget(threadId, receipt);
      invalidation.announce(threadId, receipt);
    },
  });

  // reads answered from the write-through never wait, so nothing else would subscribe to the
  // watermarks that tell when the projection has caught up (and answers exactly again)
  if (ownReads !== undefined) await waiter.watch();

  let projector: Projector | undefined;
  if (o.embeddedProjector) {
    projector = createProjector({
      topicPrefix: o.topicPrefix,
      generation: o.generation,
      partitions: o.partitions,
      kafka: conn.kafka,
      db: conn.db,
      ...(conn.redis === undefined ? {} : { redis: conn.redis }),
      redisPrefix: o.redisKeyPrefix,
      logger: o.logger,
      ...(o.registry === undefined ? {} : { registry: o.registry }),
    });
    await projector.start();
  }

  let closing: Promise<void> | undefined;
  const ensureOpen = (): void => {
    if (closing) throw new ThreadlogError('closed', 'the checkpoint store is closed');
  };

  function stats(): StoreStats {
    metrics.setL1(l1.bytes, l1.entries);
    return {
      hits: { ...reader.counts.hits },
      misses: { ...reader.counts.misses },
      l1Bytes: l1.bytes,
      l1Entries: l1.entries,
      saves: writer.saves,
      redisDegraded: guard.degraded,
    };
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      await appender.close();
      await projector?.stop();
      await reader.settle();
      await invalidation.close();
      await waiter.close();
      await requirements.close();
      await conn.close();
      log.debug({}, 'closed');
    })();
    return closing;
  }

  const store: CheckpointStore = {
    // async so a closed store rejects instead of throwing synchronously
    save: async (i) => (ensureOpen(), writer.save(i)),
    saveBatch: async (i) => (ensureOpen(), writer.saveBatch(i)),
    putWrites: async (i) => (ensureOpen(), writer.putWrites(i)),
    deleteThread: async (t) => (ensureOpen(), writer.deleteThread(t)),

    async load(ref, options) {
      ensureOpen();
      const started = performance.now();
      const ns = ref.checkpointNs ?? '';
      validateThreadId(ref.threadId, codec.options);
      validateCheckpointNs(ns, codec.options);
      if (ref.checkpointId !== undefined) validateCheckpointId(ref.checkpointId, codec.options);
      const p = partitionFor(ref.threadId, o.partitions);
      const req = await requirements.forThread(ref.threadId, ns, p, options);
      // own writes the projector has not applied yet: answered from the write-through record
      let served = req.wait >= 0n && ownReads !== undefined && waiter.known(p) < req.wait ? await ownReads.load(ref.threadId, ns, ref.checkpointId, req, options) : undefined;
      if (served === undefined) {
        if (req.wait >= 0n) {
          try {
            await waiter.waitFor(new Map([[p, req.wait]]), options?.timeoutMs ?? o.readTimeoutMs);
          } catch (e) {
            metrics.staleRead();
            throw e;
          }
        }
        served = ref.checkpointId === undefined ? await reader.latest(ref.threadId, ns, req) : await reader.byId(ref.threadId, ns, ref.checkpointId, req);
      }
      metrics.observeLoad(served.level, (performance.now() - started) / 1000);
      return served.value;
    },

    list(options) {
      ensureOpen();
      return listing.list(options);
    },

    stream(threadId, options) {
      ensureOpen();
      return listing.stream(threadId, options);
    },

    async preload(threadId, n, options) {
      ensureOpen();
      validateThreadId(threadId, codec.options);
      const ns = options?.checkpointNs ?? '';
      const recs = await projection.listCheckpoints(threadId, ns, { limit: n });
      const p = partitionFor(threadId, o.partitions);
      const req = await requirements.forThread(threadId, ns, p, { consistency: 'eventual' });
      let loaded = 0;
      for (const [i, rec] of recs.entries()) {
        if (!reader.alive(threadId, rec.position)) continue;
        await reader.warm(rec, req.wait, i === 0);
        loaded++;
      }
      await reader.settle();
      return loaded;
    },

    health: () =>
      checkHealth({ requirements, db: conn.db, redis: conn.redis, waiter, partitions: o.partitions, maxHealthyLag: o.maxHealthyLag, timeoutMs: Math.max(1_000, o.redisTimeoutMs), stats }),
    stats,
    close,
    [Symbol.asyncDispose]: close,
  };
  return store;
}
