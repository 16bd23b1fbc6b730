/**
 * Store options, merged once with defaultCheckpointStoreOptions and validated. Connections
 * are either clients the caller made (used, never closed by us) or connection settings
 * (we create the client and close it in close()).
 */
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import type { SASLOptions } from 'kafkajs';
import type { MongoClientOptions } from 'mongodb';
import type { ConnectionOptions } from 'node:tls';
import type { Registry } from 'prom-client';
import { ThreadlogError } from '../errors.ts';
import { defaultDeltaEncoderOptions } from '../events/deltas.ts';
import type { AppenderOptions } from '../kafka/appender.ts';
import type { Kafka } from '../kafka/client.ts';
import { silentLogger, type Logger } from '../logger.ts';
import type { MongoClient, Db } from 'mongodb';
import type { Cluster, Redis } from 'ioredis';
import type { RedisConnectionOptions } from '../redis/client.ts';
import type { Consistency } from './types.ts';
import type { KeyProvider } from '../crypto/key-provider.ts';

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId?: string;
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
}

export interface MongoConnectionOptions {
  url: string;
  /** TLS, auth and pool settings, passed to MongoClient unchanged (compression: keep it off for FerretDB) */
  options?: MongoClientOptions;
}

export type { RedisConnectionOptions } from '../redis/client.ts';

export interface CheckpointStoreOptions {
  /** a kafkajs client (never disconnected by us) or broker settings */
  kafka: Kafka | KafkaConnectionOptions;
  /** a MongoClient or Db (never closed by us) or a URL */
  mongo: MongoClient | Db | MongoConnectionOptions;
  /**
   * an ioredis Redis or Cluster (never closed by us), `{ url }` of one Redis, `{ clusterNodes }`
   * of a Redis Cluster, or false to run without L2
   */
  redis: Redis | Cluster | RedisConnectionOptions | false;
  /** database when `mongo` is a client or URL */
  dbName: string;
  topicPrefix: string;
  /** must equal the topic's partition count; start-up refuses a topic that differs */
  partitions: number;
  /**
   * the projection generation to read (collection name prefix) when pinned, else the one
   * used until the generation pointer (threadlog rebuild --switch) is read
   */
  generation: string;
  /**
   * true: read `generation` only. false: follow the "current generation" pointer without
   * restart. Default: pinned when `generation` is given, following when it is not.
   */
  pinGeneration: boolean;
  /** how often an unpinned store re-reads the pointer (the Redis notice is the fast path) */
  generationPollMs: number;
  serializer: SerializerProtocol;
  consistency: Consistency;
  /** bound on waiting for the projection (session and strong reads) */
  readTimeoutMs: number;
  /** deadline of one Redis call; past it the read goes to MongoDB */
  redisTimeoutMs: number;
  /** after a Redis failure, skip Redis this long before trying again */
  redisCooldownMs: number;
  /** how often a waiting read re-reads the watermark key while subscribed (missed messages) */
  watermarkPollMs: number;
  /** how often a waiting read polls MongoDB's applied offsets while Redis is down */
  mongoWatermarkPollMs: number;
  /** L1 budget in bytes (0 disables L1, and with it write-through) */
  l1MaxBytes: number;
  /**
   * remember what this instance saved (channel values in L1, headers and pending writes in a
   * quarter of the L1 budget) so `session` reads of its own writes need not wait for the
   * projector; false: they wait, as `strong` does
   */
  writeThrough: boolean;
  /**
   * How long a `session` read of a thread this instance wrote reuses the projected head it
   * last read (Redis, else MongoDB) instead of asking again at every read: another process's
   * later checkpoint of such a thread shows within this long of being projected (the
   * projector's own lag comes first). 0: ask at every read. Own writes show at once either way.
   */
  headCheckMs: number;
  redisTtlSeconds: number;
  redisTombstoneTtlSeconds: number;
  redisKeyPrefix: string;
  /** prom-client registry for the store's metrics; none: no metrics */
  registry: Registry | undefined;
  metricsPrefix: string;
  logger: Logger;
  /** run a projector inside this process (single-process use and tests) */
  embeddedProjector: boolean;
  /** create the topics when missing and refuse a mismatching one */
  ensureTopics: boolean;
  /** appender tuning (linger, batch and buffer sizes) */
  appender: Partial<Pick<AppenderOptions, 'lingerMs' | 'maxBatchBytes' | 'maxBufferedBytes' | 'ackTimeoutMs' | 'appendTimeoutMs'>>;
  /** skip-delta chains of a list channel restart with a snapshot after this many versions (default: never in practice) */
  snapshotEvery: number;
  /** page size of list/stream queries */
  pageSize: number;
  /** health(): projector lag (messages) above which the store is degraded */
  maxHealthyLag: number;
  /**
   * Encryption of event payloads per thread (docs/security.md), or false (default). On: every
   * new event's channel values, pending writes and metadata are sealed with its thread's data
   * key before they reach the log, MongoDB or Redis; `eraseThread` can crypto-shred a thread.
   * Events written before stay readable as they are.
   */
  encryption: EncryptionOptions | false;
}

export interface EncryptionOptions {
  /** the current master key: wraps new data keys (a KMS can implement the interface) */
  keyProvider: KeyProvider;
  /** older master keys, to unwrap data keys a rotation has not re-wrapped yet */
  previousKeyProviders?: KeyProvider[];
  /** threads whose unwrapped key (or erased state) is cached in this process (default 10,000) */
  keyCacheMax?: number;
  /** how long one is cached (default 60 s): bounds how long an erasure this process was not told of can go unnoticed */
  keyCacheTtlMs?: number;
}

export type CheckpointStoreInput = Partial<CheckpointStoreOptions> & Pick<CheckpointStoreOptions, 'kafka' | 'mongo'>;

export const defaultCheckpointStoreOptions: Omit<CheckpointStoreOptions, 'kafka' | 'mongo'> = {
  redis: false,
  dbName: 'threadlog',
  topicPrefix: 'threadlog',
  partitions: 12,
  generation: 'v1',
  pinGeneration: false,
  generationPollMs: 5_000,
  serializer: new JsonPlusSerializer(),
  consistency: 'session',
  readTimeoutMs: 5_000,
  // a local Redis answers in ~0.1 ms; 250 ms is an outage, not a slow reply
  redisTimeoutMs: 250,
  redisCooldownMs: 1_000,
  watermarkPollMs: 500,
  mongoWatermarkPollMs: 50,
  l1MaxBytes: 64 * 1024 * 1024,
  writeThrough: true,
  headCheckMs: 1_000,
  redisTtlSeconds: 3_600,
  redisTombstoneTtlSeconds: 86_400,
  redisKeyPrefix: 'threadlog:',
  registry: undefined,
  metricsPrefix: 'threadlog_',
  logger: silentLogger,
  embeddedProjector: false,
  ensureTopics: true,
  appender: {},
  snapshotEvery: defaultDeltaEncoderOptions.snapshotEvery,
  pageSize: 100,
  maxHealthyLag: 10_000,
  encryption: false,
};

function invalid(message: string): never {
  throw new ThreadlogError('invalid-options', `checkpoint store: ${message}`);
}

export function resolveOptions(input: CheckpointStoreInput): CheckpointStoreOptions {
  const o: CheckpointStoreOptions = { ...defaultCheckpointStoreOptions, pinGeneration: input.generation !== undefined, ...input };
  if (o.kafka === undefined || o.kafka === null) invalid('kafka is required');
  if (o.mongo === undefined || o.mongo === null) invalid('mongo is required');
  if (!['eventual', 'session', 'strong'].includes(o.consistency)) invalid(`unknown consistency ${JSON.stringify(o.consistency)}`);
  const positive = ['partitions', 'readTimeoutMs', 'redisTimeoutMs', 'redisCooldownMs', 'watermarkPollMs', 'mongoWatermarkPollMs', 'generationPollMs', 'redisTtlSeconds', 'redisTombstoneTtlSeconds', 'snapshotEvery', 'pageSize'] as const;
  for (const k of positive) if (!Number.isInteger(o[k]) || o[k] < 1) invalid(`${k} must be a positive integer`);
  if (!Number.isInteger(o.l1MaxBytes) || o.l1MaxBytes < 0) invalid('l1MaxBytes must be an integer >= 0');
  if (!Number.isInteger(o.headCheckMs) || o.headCheckMs < 0) invalid('headCheckMs must be an integer >= 0');
  if (!(o.maxHealthyLag >= 0)) invalid('maxHealthyLag must be >= 0');
  if (o.encryption !== false) {
    const p = o.encryption?.keyProvider;
    if (p === undefined || typeof p.keyId !== 'string' || typeof p.wrap !== 'function' || typeof p.unwrap !== 'function') {
      invalid('encryption.keyProvider must be a KeyProvider (createLocalKeyProvider, or a KMS implementation)');
    }
  }
  return o;
}
