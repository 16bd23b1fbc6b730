/**
 * Turns the connection options into clients and remembers which ones we created: those,
 * and only those, are closed by close(). A Redis we create retries a request once; the
 * store's per-call deadline and breaker (redis-guard.ts) turn an outage into MongoDB reads.
 */
import { MongoClient, Db } from 'mongodb';
import { createKafkaClient, type Kafka } from '../kafka/client.ts';
import type { Logger } from '../logger.ts';
import { assertRedisTopology, connectRedis, createRedisClient, describeRedis, isRedisClient, type RedisClient } from '../redis/client.ts';
import type { CheckpointStoreOptions } from './options.ts';

export interface Connections {
  kafka: Kafka;
  db: Db;
  /** undefined: running without L2 */
  redis: RedisClient | undefined;
  close(): Promise<void>;
}

const isKafka = (k: unknown): k is Kafka => typeof (k as Kafka).producer === 'function' && typeof (k as Kafka).admin === 'function';

export async function openConnections(o: CheckpointStoreOptions, logger: Logger): Promise<Connections> {
  const closers: Array<() => Promise<void>> = [];
  const kafka = isKafka(o.kafka)
    ? o.kafka
    : createKafkaClient({ brokers: o.kafka.brokers, clientId: o.kafka.clientId ?? 'threadlog-store', logger, ...(o.kafka.ssl === undefined ? {} : { ssl: o.kafka.ssl }), ...(o.kafka.sasl === undefined ? {} : { sasl: o.kafka.sasl }) });

  let db: Db;
  if (o.mongo instanceof Db) db = o.mongo;
  else if (o.mongo instanceof MongoClient) db = o.mongo.db(o.dbName);
  else {
    // connecting is lazy in the driver: a MongoDB that is down must not stop saves
    const client = new MongoClient(o.mongo.url, { serverSelectionTimeoutMS: 5_000, ...o.mongo.options });
    closers.push(() => client.close());
    db = client.db(o.dbName);
  }

  let redis: RedisClient | undefined;
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch((err: unknown) => logger.warn({ err }, 'closing a connection failed'));
  };
  if (o.redis === false) redis = undefined;
  else if (isRedisClient(o.redis)) {
    // hash-tagged keys keep a thread on one slot, so a Cluster serves every command we send
    redis = o.redis;
    if (redis.status === 'ready') await checkTopology(redis, 'the Redis client passed in', close);
  } else {
    const own = createRedisClient(o.redis, {
      lazyConnect: true,
      // not enableOfflineQueue: false — duplicate() connections (pub/sub) start lazily and
      // would refuse SUBSCRIBE; the store's own per-call deadline bounds an outage instead
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: (n) => Math.min(100 * n, 2_000),
    });
    // failures surface as rejected calls (mapped to a MongoDB read); this only keeps
    // ioredis from reporting every reconnect attempt as an unhandled error event
    own.on('error', (err: unknown) => logger.debug({ err }, 'redis connection error'));
    closers.push(async () => {
      await own.quit().catch(() => own.disconnect());
    });
    redis = own;
    // down: reads go to MongoDB until it is back; a wrong password or an untrusted certificate: refuse to start
    const connected = await connectRedis(own, describeRedis(o.redis)).catch(async (err: unknown) => {
      await close();
      throw err;
    });
    if (!connected) logger.warn({ where: describeRedis(o.redis) }, 'Redis not reachable at start: reading from MongoDB until it is');
    if (connected) await checkTopology(own, describeRedis(o.redis), close);
  }

  return {
    kafka,
    db,
    redis,
    close,
  };
}

/** a single-Redis client on a Cluster node is a configuration error: refuse to start */
async function checkTopology(redis: RedisClient, where: string, close: () => Promise<void>): Promise<void> {
  try {
    await assertRedisTopology(redis, where);
  } catch (e) {
    await close();
    throw e;
  }
}
