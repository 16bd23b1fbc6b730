/**
 * The projector: a kafkajs consumer group reading `<prefix>.checkpoints` into a MongoDB
 * projection generation and the Redis cache. kafkajs-specific code for the read side stays in
 * this file; what a batch means is in partition-processor.ts.
 *
 * Offsets: kafkajs is told a whole batch is resolved (so it fetches on), but autoCommit is
 * off and we commit ourselves, only what the processor reports as applied through — never
 * past an open chunk sequence. A rebalance restarts every partition at its committed offset.
 */
import kafkajs, { type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { MongoClient, type Db } from 'mongodb';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { Registry } from 'prom-client';
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { createEventCodec, type EventCodec } from '../events/codec.ts';
import type { ChunkAssemblerOptions } from '../events/chunks.ts';
import { createKafkaClient, mapKafkaError, type KafkaClientOptions } from '../kafka/client.ts';
import { checkpointsTopic, deadLetterTopic, ensureTopics, replicationWarnings } from '../kafka/topics.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { createProjectionStore, type ProjectionStore } from '../mongo/projection-store.ts';
import { createRedisCache } from '../redis/cache.ts';
import { assertRedisTopology, connectRedis, createRedisClient, describeRedis, isCluster, type RedisClient } from '../redis/client.ts';
import { createProblemStore, type BrokenDelta } from '../mongo/problem-store.ts';
import type { DeadLetterRecord } from './dead-letter.ts';
import { createProjectorMetrics, type RetryCause } from './metrics.ts';
import { createCoalescingApplier, defaultCoalescingOptions } from './coalesce.ts';
import { createPartitionProcessor, defaultMaxEventsPerApply, defaultMaxThreadsPerApply } from './partition-processor.ts';
import { defaultBackoffOptions, withRetry, type BackoffOptions, type RetryHooks } from './retry.ts';

const { Partitioners } = kafkajs;

// broken delta chains named in warnings(); all of them are counted and recorded
const MAX_WARNINGS = 10;

export interface ProjectorOptions {
  topicPrefix: string;
  /** the MongoDB projection generation (collection prefix); also names the consumer group */
  generation: string;
  /** default `<topicPrefix>.projector.<generation>` */
  groupId?: string;
  /** a client of the caller's (never disconnected by us), or brokers to build our own */
  kafka?: Kafka;
  brokers?: string[];
  /** TLS and SASL of the Kafka client we build, passed to kafkajs (`ssl: { ca }`, `sasl: { mechanism, username, password }`) */
  kafkaSsl?: KafkaClientOptions['ssl'];
  kafkaSasl?: KafkaClientOptions['sasl'];
  /** a database of the caller's client, or url + name for a client we create and close */
  db?: Db;
  mongoUrl?: string;
  mongoDbName?: string;
  /** for a client we create: how long one MongoDB call may go without an answer before it
   * fails (into the back-off) — a hung server or a black-holed network must not hold a
   * batch forever. Longer than the slowest healthy bulk apply. */
  mongoSocketTimeoutMs: number;
  /** for a client we create: how long a call waits for a reachable server before failing */
  mongoServerSelectionTimeoutMs: number;
  /** for a Redis client we create: how long one command may go unanswered */
  redisCommandTimeoutMs: number;
  /** the caller's client (Redis or Cluster), or a url / cluster nodes for ours; none: MongoDB only, no cache upkeep */
  redis?: RedisClient;
  redisUrl?: string;
  /** `host:port` seed nodes of a Redis Cluster (instead of redisUrl) */
  redisClusterNodes?: string[];
  /** ioredis Cluster settings for a Cluster we create (`natMap` behind NAT, ...) */
  redisClusterOptions?: ClusterOptions;
  /** connection settings of the Redis we create (TLS `tls.ca`, `username`/`password`), passed to ioredis */
  redisOptions?: RedisOptions;
  redisPrefix: string;
  /** create/check the topics at start (with this partition count) */
  ensureTopics: boolean;
  partitions: number;
  partitionsConsumedConcurrently: number;
  maxBytesPerPartition: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** how long an idle fetch waits at the broker; also bounds how long stop() waits for it */
  maxWaitTimeMs: number;
  backoff: BackoffOptions;
  /** between start attempts while Kafka does not answer (start waits until it does or stop()) */
  startBackoff: BackoffOptions;
  /** distinct threads per MongoDB apply (partition-processor.ts says why it is bounded) */
  maxThreadsPerApply: number;
  maxEventsPerApply: number;
  /** batches of several partitions applied together hold at most this many events (coalesce.ts) */
  maxEventsPerCombinedApply: number;
  assembler?: Partial<ChunkAssemblerOptions>;
  codec?: EventCodec;
  /**
   * the document layout a generation that does not exist yet is created with (2: one
   * document per event, the default; 1: the layout before it). An existing generation keeps
   * the layout it was created with: `threadlog rebuild` moves a projection to another.
   */
  layout?: 1 | 2;
  /** prom-client registry for our metrics; a private one by default */
  registry?: Registry;
  logger: Logger;
  clientId: string;
}

export const defaultProjectorOptions = {
  redisPrefix: 'threadlog:',
  ensureTopics: true as boolean,
  partitions: 12,
  // Every partition's batch in flight at once: while one apply runs, the others queue up and
  // go to MongoDB together (coalesce.ts), so more partitions in flight means fewer commands.
  partitionsConsumedConcurrently: 12,
  maxBytesPerPartition: 4 * 1024 * 1024,
  // measured (bench/failover.ts): reads that wait on a killed projector's partitions stall for
  // about the session timeout; below ~10 s a slow MongoDB apply risks a needless rebalance
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  maxWaitTimeMs: 1_000,
  mongoSocketTimeoutMs: 30_000,
  mongoServerSelectionTimeoutMs: 3_000,
  redisCommandTimeoutMs: 5_000,
  backoff: defaultBackoffOptions,
  startBackoff: { ...defaultBackoffOptions, initialMs: 500, maxMs: 15_000 },
  maxThreadsPerApply: defaultMaxThreadsPerApply,
  maxEventsPerApply: defaultMaxEventsPerApply,
  maxEventsPerCombinedApply: defaultCoalescingOptions.maxEvents,
  logger: silentLogger,
  clientId: 'threadlog-projector',
} satisfies Partial<ProjectorOptions>;

export interface PartitionLag {
  /** highest offset applied together with all before it; undefined: nothing yet */
  through: string | undefined;
  /** the partition's end offset (next offset to be written) when last seen */
  end: string;
  lag: number;
}

export interface Projector {
  readonly groupId: string;
  readonly topic: string;
  start(): Promise<void>;
  /** graceful: lets the batch in progress finish and commit, then disconnects; idempotent */
  stop(): Promise<void>;
  /** reasons it is not projecting; empty when ready */
  ready(): string[];
  /** reasons the process should be restarted; empty when healthy */
  health(): string[];
  /**
   * what an operator should look at that a restart will not mend: broken delta chains this
   * projector found (docs/operations.md); bounded to the most recent ones
   */
  warnings(): string[];
  lag(): Map<number, PartitionLag>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Options = ProjectorOptions;

export function createProjector(options: Partial<ProjectorOptions> & Pick<ProjectorOptions, 'topicPrefix' | 'generation'>): Projector {
  const o: Options = { ...defaultProjectorOptions, ...options };
  if (!o.kafka && !o.brokers?.length) throw new ThreadlogError('invalid-options', 'projector: pass kafka or brokers');
  if (!o.db && !(o.mongoUrl && o.mongoDbName)) throw new ThreadlogError('invalid-options', 'projector: pass db, or mongoUrl and mongoDbName');
  const topic = checkpointsTopic(o.topicPrefix);
  const groupId = o.groupId ?? `${o.topicPrefix}.projector.${o.generation}`;
  const log = o.logger.child({ component: 'projector', groupId });
  const metrics = createProjectorMetrics(o.registry ?? new Registry());
  const kafka = o.kafka ?? createKafkaClient({ brokers: o.brokers!, clientId: o.clientId, logger: o.logger, ...(o.kafkaSsl === undefined ? {} : { ssl: o.kafkaSsl }), ...(o.kafkaSasl === undefined ? {} : { sasl: o.kafkaSasl }) });

  // Clients we create are ours to close; fail fast while a server is down so the back-off
  // (not a driver's internal wait) decides, and readiness says why.
  const ownMongo = o.db
    ? undefined
    : new MongoClient(o.mongoUrl!, {
        serverSelectionTimeoutMS: o.mongoServerSelectionTimeoutMs,
        connectTimeoutMS: o.mongoServerSelectionTimeoutMs,
        socketTimeoutMS: o.mongoSocketTimeoutMs,
      });
  const db = o.db ?? ownMongo!.db(o.mongoDbName);
  const redisTarget = o.redisClusterNodes?.length
    ? { clusterNodes: o.redisClusterNodes, ...(o.redisClusterOptions ? { clusterOptions: o.redisClusterOptions } : {}), ...(o.redisOptions ? { options: o.redisOptions } : {}) }
    : o.redisUrl ? { url: o.redisUrl, ...(o.redisOptions ? { options: o.redisOptions } : {}) } : undefined;
  const ownRedis = o.redis || !redisTarget ? undefined : createRedisClient(redisTarget, { maxRetriesPerRequest: 1, lazyConnect: true, commandTimeout: o.redisCommandTimeoutMs });
  // ioredis prints unhandled 'error' events to the console; the failed calls already reach
  // the back-off and readiness, so a reconnect error is only worth a debug line
  ownRedis?.on('error', (e: Error) => log.debug({ err: e.message }, 'redis connection error'));
  const redis = o.redis ?? ownRedis;
  const store: ProjectionStore = createProjectionStore({ db, generation: o.generation, logger: o.logger, ...(o.layout === undefined ? {} : { newLayout: o.layout }) });
  const problems = createProblemStore(db, o.generation);
  let brokenDeltas = 0;
  // durability risks of the topic found at start (replication factor 1 on a cluster)
  let topicWarnings: string[] = [];
  const recentBroken: BrokenDelta[] = [];
  let setupDone: Promise<void> | undefined;

  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  let joined = false;
  let crashed: string | undefined;
  let waitingFor: string | undefined;
  let stopped: Promise<void> | undefined;
  const paused = new Map<RetryCause, string>();
  const lags = new Map<number, PartitionLag>();

  const processor = createPartitionProcessor({
    topic,
    codec: o.codec ?? createEventCodec(),
    // setup() rides on the first batch's retried MongoDB step: a projector started while
    // MongoDB is down waits (not ready) instead of failing its start
    store: createCoalescingApplier(
      {
        applyBatch: async (events, opts) => {
          await (setupDone ??= store.setup().catch((e: unknown) => {
            setupDone = undefined;
            throw e;
          }));
          return store.applyBatch(events, opts);
        },
      },
      { maxEvents: o.maxEventsPerCombinedApply },
    ),
    cache: redis ? createRedisCache({ redis, prefix: o.redisPrefix, logger: o.logger }) : undefined,
    sendDeadLetters: sendDeadLetters,
    bases: {
      present: async (threadId, ns, versions) => (await store.getBlobs(threadId, ns, versions)).map((v) => [v.channel, v.version]),
      record: (ps) => problems.record(ps),
      clearThread: (threadId, before) => problems.clearThread(threadId, before),
      resolvedByApplier: async () => (await store.resolveLayout()) === 2,
    },
    onBrokenDeltas(ps) {
      brokenDeltas += ps.length;
      recentBroken.push(...ps);
      recentBroken.splice(0, Math.max(0, recentBroken.length - MAX_WARNINGS));
    },
    metrics,
    logger: o.logger,
    backoff: o.backoff,
    maxThreadsPerApply: o.maxThreadsPerApply,
    maxEventsPerApply: o.maxEventsPerApply,
    ...(o.assembler ? { assembler: o.assembler } : {}),
  });

  async function sendDeadLetters(records: DeadLetterRecord[]): Promise<void> {
    try {
      await producer!.send({ topic: deadLetterTopic(o.topicPrefix), acks: -1, messages: records.map((r) => ({ ...r, headers: r.headers as Record<string, string> })) });
    } catch (e) {
      throw mapKafkaError(e, 'sending dead letters');
    }
  }

  const hooksFor = (p: EachBatchPayload): RetryHooks => ({
    keepGoing: () => p.isRunning() && !p.isStale(),
    heartbeat: () => p.heartbeat(),
    onRetry(cause, error, attempt, delayMs) {
      paused.set(cause, `${cause} unavailable, retrying (attempt ${attempt}): ${error.message}`);
      metrics.countRetry(cause);
      metrics.setPaused(cause, true);
      log.warn({ partition: p.batch.partition, cause, attempt, delayMs, err: error.message }, 'batch paused, retrying with back-off');
    },
    onRecovered(cause, attempts) {
      paused.delete(cause);
      metrics.setPaused(cause, false);
      log.info({ partition: p.batch.partition, cause, attempts }, 'service back, batch resumed');
    },
  });

  async function eachBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    if (batch.messages.length === 0) return;
    const started = performance.now();
    const records = batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {}, offset: m.offset }));
    let done;
    // kafkajs heartbeats only when asked: a batch that takes longer than the session timeout
    // (a slow or loaded MongoDB) would get this member thrown out of the group, its commit
    // refused and the batch redone by the next owner — forever, if every batch is that slow.
    // So heartbeat while the batch runs; a failed one (a rebalance) shows as a stale batch.
    const beat = setInterval(() => void p.heartbeat().catch((e: unknown) => log.debug({ err: String(e) }, 'heartbeat during a batch failed')), o.heartbeatIntervalMs);
    try {
      done = await processor.process(batch.partition, records, hooksFor(p));
    } catch (e) {
      // gave up because the batch went stale or we stop: nothing committed, the next owner
      // (or our next start) re-reads from the committed offset
      if (isThreadlogError(e, 'closed')) {
        processor.drop(batch.partition);
        return;
      }
      throw e;
    } finally {
      clearInterval(beat);
    }
    // a batch that went through means the services answer again, even if the batch that
    // saw them fail was abandoned (stale) before it could report the recovery
    for (const cause of paused.keys()) metrics.setPaused(cause, false);
    paused.clear();
    p.resolveOffset(batch.lastOffset());
    if (done.through !== undefined) {
      const next = String(BigInt(done.through) + 1n);
      await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition: batch.partition, offset: next }] }] });
      const lag = Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next)));
      lags.set(batch.partition, { through: done.through, end: batch.highWatermark, lag });
      metrics.setLag(batch.partition, lag);
    }
    metrics.observeBatch((performance.now() - started) / 1000, done.events);
  }

  /**
   * Start-up waits for Kafka with back-off (not ready meanwhile, a log line per attempt)
   * instead of failing: a projector started before its broker, or during an outage, starts
   * projecting once Kafka answers. MongoDB and Redis are waited for by the first batch's
   * retried steps. Only what waiting cannot mend (a topic that differs) ends the start.
   */
  async function start(): Promise<void> {
    if (state !== 'new') throw new ThreadlogError('invalid-options', `projector ${groupId} was already started`);
    state = 'starting';
    const hooks: RetryHooks = {
      keepGoing: () => state === 'starting',
      heartbeat: async () => undefined,
      onRetry(_cause, error, attempt, delayMs) {
        waitingFor = `waiting for Kafka (${o.brokers?.join(',') ?? 'the client passed in'}) to start, attempt ${attempt}: ${error.message}`;
        metrics.countRetry('kafka');
        metrics.setPaused('kafka', true);
        log.warn({ attempt, delayMs, err: error.message }, 'waiting for Kafka to start the projector, retrying with back-off');
      },
      onRecovered(_cause, attempts) {
        waitingFor = undefined;
        metrics.setPaused('kafka', false);
        log.info({ attempts }, 'Kafka answers: starting the projector');
      },
    };
    try {
      await withRetry('kafka', connect, hooks, o.startBackoff);
      state = 'running';
      log.info({ topic, generation: o.generation }, 'projector started');
    } catch (e) {
      waitingFor = undefined;
      await stop();
      throw mapKafkaError(e, `starting projector ${groupId}`, 'kafka-unavailable');
    }
  }

  async function connect(): Promise<void> {
    try {
      if (o.ensureTopics) {
        const admin = kafka.admin();
        await admin.connect();
        try {
          const { checkpoints } = await ensureTopics({ admin, prefix: o.topicPrefix, partitions: o.partitions });
          topicWarnings = replicationWarnings(checkpoints);
          for (const w of topicWarnings) log.warn({ topic, replicationFactor: checkpoints.replicationFactor, brokers: checkpoints.brokers }, w);
        } finally {
          await admin.disconnect();
        }
      }
      // a wrong password or an untrusted certificate fails the start, naming Redis (down: it catches up later)
      if (ownRedis && redisTarget && ownRedis.status === 'wait') await connectRedis(ownRedis, describeRedis(redisTarget));
      // a Cluster node given as one Redis is a configuration error: fail the start, say why
      if (redis && !isCluster(redis)) await assertRedisTopology(redis, o.redisUrl ? `Redis at ${describeRedis({ url: o.redisUrl })}` : 'the Redis client passed in');
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      consumer = kafka.consumer({ groupId, sessionTimeout: o.sessionTimeoutMs, heartbeatInterval: o.heartbeatIntervalMs, maxWaitTimeInMs: o.maxWaitTimeMs, maxBytesPerPartition: o.maxBytesPerPartition });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        joined = true;
        // every partition restarts at its committed offset: open chunk sequences start over,
        // and what the applier knew of its threads may be another member's business now
        processor.dropAll();
        store.forgetApplyState();
        const assigned = new Set(e.payload.memberAssignment[topic] ?? []);
        for (const p of [...lags.keys()]) {
          if (!assigned.has(p)) {
            lags.delete(p);
            metrics.removePartition(p);
          }
        }
        log.info({ partitions: [...assigned] }, 'joined the group');
      });
      consumer.on(consumer.events.CRASH, (e) => {
        log.error({ err: String(e.payload.error), restart: e.payload.restart }, 'consumer crashed');
        if (!e.payload.restart) crashed = `consumer crashed and will not restart: ${String(e.payload.error)}`;
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachBatch, eachBatchAutoResolve: false, autoCommit: false, partitionsConsumedConcurrently: o.partitionsConsumedConcurrently });
    } catch (e) {
      // start over from nothing at the next attempt
      const [c, p] = [consumer, producer];
      consumer = undefined;
      producer = undefined;
      await c?.disconnect().catch(() => undefined);
      await p?.disconnect().catch(() => undefined);
      throw mapKafkaError(e, `starting projector ${groupId}`, 'kafka-unavailable');
    }
  }

  function stop(): Promise<void> {
    stopped ??= (async () => {
      state = 'stopping';
      // disconnect() waits for the batch in progress; a batch waiting on a down service gives up
      await consumer?.disconnect().catch((e: unknown) => log.warn({ err: String(e) }, 'consumer disconnect failed'));
      await producer?.disconnect().catch((e: unknown) => log.warn({ err: String(e) }, 'producer disconnect failed'));
      await ownMongo?.close().catch(() => undefined);
      if (ownRedis) await ownRedis.quit().catch(() => ownRedis.disconnect());
      state = 'stopped';
      log.info({}, 'projector stopped');
    })();
    return stopped;
  }

  return {
    groupId,
    topic,
    start,
    stop,
    ready() {
      const reasons: string[] = [];
      if (waitingFor !== undefined) reasons.push(waitingFor);
      else if (state !== 'running') reasons.push(`projector is ${state}`);
      else if (!joined) reasons.push('not yet a member of the consumer group');
      if (crashed) reasons.push(crashed);
      return [...reasons, ...paused.values()];
    },
    health() {
      const reasons: string[] = [];
      if (crashed) reasons.push(crashed);
      if (state === 'stopped') reasons.push('projector stopped');
      return reasons;
    },
    warnings() {
      if (brokenDeltas === 0) return [...topicWarnings];
      return [
        ...topicWarnings,
        `${brokenDeltas} append delta(s) projected without their base since start: those checkpoints cannot be read (threadlog audit <thread> names them; docs/operations.md "Broken delta chains")`,
        ...recentBroken.map((p) => `broken delta: thread ${JSON.stringify(p.threadId)} checkpoint ${p.checkpointId} channel "${p.channel}" version ${String(p.version)} → missing base ${String(p.base)} at ${p.pos.partition}:${p.pos.offset}`),
      ];
    },
    lag: () => new Map(lags),
    [Symbol.asyncDispose]: stop,
  };
}
