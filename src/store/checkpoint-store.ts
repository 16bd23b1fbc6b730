/**
 * createCheckpointStore(): wires the write path (codec, append deltas, appender) and the read
 * path (L1 → Redis → MongoDB, consistency waits on projector watermarks) into one
 * CheckpointStore. Whoever creates a client closes it: clients passed in are left open.
 */
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { createEventCodec } from '../events/codec.ts';
import { createDeltaEncoder } from '../events/deltas.ts';
import { validateCheckpointId, validateCheckpointNs, validateThreadId } from '../events/validate.ts';
import { createAppender } from '../kafka/appender.ts';
import { createAppenderMetrics, noopAppenderMetrics } from '../kafka/metrics.ts';
import { partitionFor } from '../kafka/partition.ts';
import { checkpointsTopic, ensureTopics, replicationWarnings } from '../kafka/topics.ts';
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
import { createMetaStore } from '../mongo/meta.ts';
import { createProblemStore } from '../mongo/problem-store.ts';
import { followGeneration, resolveServedGeneration, type ServedGeneration } from './generation-follow.ts';
import { createWriter } from './writer.ts';
import { createThreadKeys } from '../crypto/thread-keys.ts';
import { sealEvent } from '../crypto/seal.ts';
import { createMongoKeyStore } from '../mongo/key-store.ts';
import { createSealedProjection } from './sealed-projection.ts';
import { createSealedCache } from './sealed-cache.ts';
import { createEraser } from './erase.ts';
import type { ThreadlogEvent } from '../events/types.ts';

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
        const { checkpoints } = await ensureTopics({ admin, prefix: o.topicPrefix, partitions: o.partitions });
        for (const w of replicationWarnings(checkpoints)) log.warn({ topic: checkpoints.topic, replicationFactor: checkpoints.replicationFactor, brokers: checkpoints.brokers }, w);
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
  const guard = createRedisGuard({ enabled: conn.redis !== undefined, timeoutMs: o.redisTimeoutMs, cooldownMs: o.redisCooldownMs, logger: log, onDegraded: (what) => metrics.redisDegraded(what) });
  const l1 = createL1Cache(o.l1MaxBytes);
  const session = createSessionTracker();
  const own = o.writeThrough && o.l1MaxBytes > 0 ? createOwnWrites({ maxBytes: Math.floor(o.l1MaxBytes / 4), l1, session }) : undefined;
  const requirements = createRequirements({ kafka: conn.kafka, topic, session, defaultConsistency: o.consistency });

  // The read side belongs to one projection generation; an unpinned store swaps it when the
  // generation pointer moves (threadlog rebuild --switch). A MongoDB that is down at start
  // must not stop saves: then the configured generation, until the poll reads the pointer.
  const meta = createMetaStore(conn.db);
  // per-thread data keys, wrapped by the master key, in a collection outside every generation
  const keys = o.encryption === false
    ? undefined
    : createThreadKeys({
        store: createMongoKeyStore(conn.db),
        provider: o.encryption.keyProvider,
        previous: o.encryption.previousKeyProviders ?? [],
        ...(o.encryption.keyCacheMax === undefined ? {} : { cacheMax: o.encryption.keyCacheMax }),
        ...(o.encryption.keyCacheTtlMs === undefined ? {} : { cacheTtlMs: o.encryption.keyCacheTtlMs }),
      });
  const served: ServedGeneration = await resolveServedGeneration(meta, o.generation, o.redisKeyPrefix, o.pinGeneration).catch(async (e: unknown) => {
    // MongoDB down: start anyway; a wrong password or an untrusted certificate: refuse, naming MongoDB
    if (isThreadlogError(e, 'tls-untrusted') || isThreadlogError(e, 'auth-failed')) {
      await conn.close();
      throw e;
    }
    return { generation: o.generation, redisPrefix: o.redisKeyPrefix };
  });
  function readSide(g: ServedGeneration) {
    const stored = createProjectionStore({ db: conn.db, generation: g.generation, logger: o.logger });
    const rawCache = conn.redis === undefined ? undefined : createRedisCache({ redis: conn.redis, prefix: g.redisPrefix, ttlSeconds: o.redisTtlSeconds, tombstoneTtlSeconds: o.redisTombstoneTtlSeconds, logger: o.logger });
    // with encryption, what comes out of MongoDB and Redis is opened here (they hold it sealed)
    const sealed = keys === undefined ? undefined : createSealedProjection(stored, keys);
    const projection = sealed ?? stored;
    const cache = rawCache !== undefined && keys !== undefined ? createSealedCache(rawCache, keys) : rawCache;
    const waiter = createWatermarkWaiter({ topic, cache, guard, projection, logger: log, slowPollMs: o.watermarkPollMs, mongoPollMs: o.mongoWatermarkPollMs });
    const assembler = createAssembler(projection, l1, codec);
    const reader = createReader({ projection, cache, guard, l1, assembler, session, waiter, metrics });
    const ownReads = own && createOwnReads({ own, reader, assembler, topic, defaultConsistency: o.consistency, headCheckMs: o.headCheckMs });
    const listing = createListing({ projection, reader, requirements, waiter, partitions: o.partitions, pageSize: o.pageSize, timeoutMs: o.readTimeoutMs, ...(ownReads ? { ownReads } : {}), ...(sealed ? { openRecords: sealed.opener.records } : {}) });
    return { ...g, projection, cache, waiter, reader, ownReads, listing };
  }
  let side = readSide(served);
  const retired = new Set<ReturnType<typeof readSide>>();

  function forget(threadId: string, position: { partition: number; offset: string }): void {
    // a thread deleted elsewhere: its old versions leave the projection, so they must not be
    // delta bases here any more (a delta written before this notice arrives is caught by the
    // projector's missing-base check)
    deltas.forget(threadId);
    session.markDeleted(threadId, position);
    l1.dropThread(threadId);
    own?.forget(threadId, position);
    side.ownReads?.forget(threadId);
    // an erasure elsewhere: the next read asks the key store again
    keys?.forget(threadId);
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
    ...(keys === undefined ? {} : { seal: async (e: ThreadlogEvent) => (e.type === 'checkpoint' || e.type === 'writes' ? sealEvent(e, await keys.forWrite(e.threadId)) : e) }),
  });
  const eraseThread = createEraser({
    keys,
    writer,
    side: () => ({ layout: () => side.projection.resolveLayout(), cache: side.cache, waiter: side.waiter }),
    guard,
    forgetLocal(threadId, position) {
      deltas.forget(threadId);
      l1.dropThread(threadId);
      keys?.forget(threadId);
      if (position !== undefined) forget(threadId, position);
    },
    announce: (threadId, position) => invalidation.announce(threadId, position),
    logger: o.logger,
    timeoutMs: o.readTimeoutMs,
  });
  /** an erased thread reads as absent, also from this process's own write-through record */
  const erased = async (threadId: string): Promise<boolean> => keys !== undefined && (await keys.forRead(threadId)).state === 'erased';

  // reads answered from the write-through never wait, so nothing else would subscribe to the
  // watermarks that tell when the projection has caught up (and answers exactly again)
  if (side.ownReads !== undefined) await side.waiter.watch();

  let projector: Projector | undefined;
  const embedded = (g: ServedGeneration): Projector =>
    createProjector({
      topicPrefix: o.topicPrefix,
      generation: g.generation,
      partitions: o.partitions,
      kafka: conn.kafka,
      db: conn.db,
      ...(conn.redis === undefined ? {} : { redis: conn.redis }),
      redisPrefix: g.redisPrefix,
      logger: o.logger,
      ...(o.registry === undefined ? {} : { registry: o.registry }),
    });
  if (o.embeddedProjector) {
    projector = embedded(side);
    await projector.start();
  }

  const follow = o.pinGeneration
    ? undefined
    : await followGeneration({
        meta,
        redis: conn.redis,
        basePrefix: o.redisKeyPrefix,
        current: served,
        pollMs: o.generationPollMs,
        logger: log,
        async onSwitch(next) {
          const old = side;
          side = readSide(next);
          // entries carry the old generation's view of pending writes: start the new one cold
          l1.clear();
          if (side.ownReads !== undefined) await side.waiter.watch();
          if (projector !== undefined) {
            const p = embedded(next);
            await p.start();
            const previous = projector;
            projector = p;
            await previous.stop();
          }
          // reads in flight finish on the old side within their own timeout
          retired.add(old);
          setTimeout(() => {
            if (retired.delete(old)) void old.reader.settle().then(() => old.waiter.close());
          }, o.readTimeoutMs).unref();
        },
      });

  let closing: Promise<void> | undefined;
  const ensureOpen = (): void => {
    if (closing) throw new ThreadlogError('closed', 'the checkpoint store is closed');
  };

  function stats(): StoreStats {
    metrics.setL1(l1.bytes, l1.entries);
    return {
      hits: { ...side.reader.counts.hits },
      misses: { ...side.reader.counts.misses },
      l1Bytes: l1.bytes,
      l1Entries: l1.entries,
      saves: writer.saves,
      redisDegraded: guard.degraded,
    };
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      await appender.close();
      await follow?.close();
      await projector?.stop();
      for (const s of [...retired, side]) await s.reader.settle();
      await invalidation.close();
      for (const s of [...retired, side]) await s.waiter.close();
      retired.clear();
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
    eraseThread: async (t, options) => (ensureOpen(), eraseThread(t, options)),

    async load(ref, options) {
      ensureOpen();
      const started = performance.now();
      const ns = ref.checkpointNs ?? '';
      validateThreadId(ref.threadId, codec.options);
      validateCheckpointNs(ns, codec.options);
      if (ref.checkpointId !== undefined) validateCheckpointId(ref.checkpointId, codec.options);
      if (await erased(ref.threadId)) return undefined;
      const p = partitionFor(ref.threadId, o.partitions);
      const req = await requirements.forThread(ref.threadId, ns, p, options);
      // one generation for the whole read, even if a switch happens meanwhile
      const { ownReads, waiter, reader } = side;
      // Own writes: answered from the write-through record whether or not the projector has
      // applied them yet. Once it has, the projection would give the same answer for them,
      // but only after re-reading the checkpoint's pending writes from MongoDB (the cached
      // entry is as of the checkpoint event, the writes came later): memory is cheaper.
      let served = req.wait >= 0n && ownReads !== undefined ? await ownReads.load(ref.threadId, ns, ref.checkpointId, req, options) : undefined;
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
      const listing = side.listing;
      const threadId = options?.threadId;
      if (keys === undefined || threadId === undefined) return listing.list(options);
      return (async function* () {
        if (!(await erased(threadId))) yield* listing.list(options);
      })();
    },

    stream(threadId, options) {
      ensureOpen();
      const listing = side.listing;
      if (keys === undefined) return listing.stream(threadId, options);
      return (async function* () {
        if (!(await erased(threadId))) yield* listing.stream(threadId, options);
      })();
    },

    async preload(threadId, n, options) {
      ensureOpen();
      validateThreadId(threadId, codec.options);
      const ns = options?.checkpointNs ?? '';
      const { projection, reader } = side;
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
      checkHealth({
        requirements,
        db: conn.db,
        redis: conn.redis,
        waiter: side.waiter,
        partitions: o.partitions,
        maxHealthyLag: o.maxHealthyLag,
        timeoutMs: Math.max(1_000, o.redisTimeoutMs),
        stats,
        brokenDeltas: () => createProblemStore(conn.db, side.generation).count(),
      }),
    stats,
    close,
    [Symbol.asyncDispose]: close,
  };
  return store;
}
