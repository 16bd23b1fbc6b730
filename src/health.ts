/**
 * Service probes: one real round trip to each of Kafka, MongoDB and Redis (a port can be
 * open before the service serves). Used by `threadlog health`, the test harness, and the
 * store's health().
 */
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { configurationError } from './connection-errors.ts';
import { KAFKA_SETTINGS } from './kafka/client.ts';
import { REDIS_SETTINGS, assertRedisTopology, createRedisClient, describeRedis, isCluster } from './redis/client.ts';

export interface ServiceEndpoints {
  kafkaBrokers: string[];
  mongoUrl: string;
  redisUrl: string;
  /** a Redis Cluster's seed nodes: probed instead of redisUrl */
  redisClusterNodes?: string[] | undefined;
  /** announced address -> reachable address, for a cluster behind NAT */
  redisClusterNatMap?: Record<string, { host: string; port: number }> | undefined;
  /** PEM of the CA that signed Redis' TLS certificate */
  redisTlsCa?: Buffer | undefined;
  /** Kafka TLS and SASL, as kafkajs takes them */
  kafkaSsl?: KafkaConfig['ssl'] | undefined;
  kafkaSasl?: KafkaConfig['sasl'] | undefined;
}

export type ServiceName = 'kafka' | 'mongodb' | 'redis';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export async function probeServices(
  ep: ServiceEndpoints,
  timeoutMs = 2000,
): Promise<Record<ServiceName, ProbeResult>> {
  const [kafka, mongodb, redis] = await Promise.all([
    timed(() => probeKafka(ep, timeoutMs)),
    timed(() => probeMongo(ep.mongoUrl, timeoutMs)),
    timed(() => probeRedis(ep, timeoutMs)),
  ]);
  return { kafka, mongodb, redis };
}

async function timed(fn: () => Promise<void>): Promise<ProbeResult> {
  const start = performance.now();
  try {
    await fn();
    return { ok: true, latencyMs: performance.now() - start };
  } catch (e) {
    return { ok: false, latencyMs: performance.now() - start, error: e instanceof Error ? e.message : String(e) };
  }
}

async function probeKafka(ep: ServiceEndpoints, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'threadlog-probe',
    brokers: ep.kafkaBrokers,
    ...(ep.kafkaSsl === undefined ? {} : { ssl: ep.kafkaSsl }),
    ...(ep.kafkaSasl === undefined ? {} : { sasl: ep.kafkaSasl }),
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (e) {
    // a refused password or an untrusted certificate says so, naming the setting
    throw configurationError('Kafka', ep.kafkaBrokers.join(','), e, KAFKA_SETTINGS) ?? e;
  } finally {
    await admin.disconnect();
  }
}

async function probeMongo(url: string, timeoutMs: number): Promise<void> {
  // a wedged server accepts the connection and never answers: bound the handshake too
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs, socketTimeoutMS: timeoutMs });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

async function probeRedis(ep: ServiceEndpoints, timeoutMs: number): Promise<void> {
  const tls = ep.redisTlsCa === undefined ? {} : { options: { tls: { ca: ep.redisTlsCa } } };
  const target = ep.redisClusterNodes?.length ? { clusterNodes: ep.redisClusterNodes, ...tls, clusterOptions: { clusterRetryStrategy: () => null, ...(ep.redisClusterNatMap ? { natMap: ep.redisClusterNatMap } : {}) } } : { url: ep.redisUrl, ...tls };
  const redis = createRedisClient(target, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  // the failure surfaces through connect() as "Connection is closed"; its reason in the first 'error' event
  let first: unknown;
  redis.on('error', (e: unknown) => void (first ??= e));
  let timer: NodeJS.Timeout | undefined;
  try {
    // a Cluster's connect() waits for every slot to be served: bound it like the rest;
    // a wrong password or an untrusted certificate is said as such, naming the setting
    await Promise.race([
      redis.connect().catch((e: unknown) => {
        throw configurationError('Redis', describeRedis(target), first ?? e, REDIS_SETTINGS) ?? first ?? e;
      }),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    await redis.ping();
    // one node of a Cluster given as a single Redis: reachable, but the store would refuse it
    if (!isCluster(redis)) await assertRedisTopology(redis, `Redis at ${describeRedis({ url: ep.redisUrl })}`);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
