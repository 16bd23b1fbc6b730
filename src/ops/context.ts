/**
 * The clients an operations command needs (import, rebuild), made from the parsed
 * environment and closed together. Commands are entry points: they own these clients.
 */
import { MongoClient, type Db } from 'mongodb';
import { encryptionOptions, kafkaSecurity, redisConnection, type ThreadlogEnv } from '../cli/env.ts';
import { createKafkaClient, type Kafka } from '../kafka/client.ts';
import { createMetaStore, generationRedisPrefix, servingGeneration, type MetaStore } from '../mongo/meta.ts';
import { createCheckpointStore } from '../store/checkpoint-store.ts';
import type { CheckpointStoreInput } from '../store/options.ts';
import type { CheckpointStore } from '../store/types.ts';
import { createRedisClient, type RedisClient } from '../redis/client.ts';

export interface OpsContext {
  env: ThreadlogEnv;
  kafka: Kafka;
  mongo: MongoClient;
  db: Db;
  redis: RedisClient;
  meta: MetaStore;
  /** the generation that serves reads now, and its Redis prefix */
  serving(): Promise<{ generation: string; redisPrefix: string }>;
  /** a store reading the serving generation (closed with the context) */
  openStore(options?: Partial<CheckpointStoreInput>): Promise<CheckpointStore>;
  close(): Promise<void>;
}

export async function openOpsContext(env: ThreadlogEnv, clientId: string): Promise<OpsContext> {
  const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId, ...kafkaSecurity(env) });
  const mongo = new MongoClient(env.mongoUrl, { serverSelectionTimeoutMS: 5_000 });
  const redis = createRedisClient(redisConnection(env), { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const db = mongo.db(env.mongoDb);
  const meta = createMetaStore(db);
  const stores: CheckpointStore[] = [];
  const serving = async (): Promise<{ generation: string; redisPrefix: string }> => {
    const generation = await servingGeneration(meta, env.generation);
    return { generation, redisPrefix: await generationRedisPrefix(meta, env.redisPrefix, generation) };
  };
  return {
    env,
    kafka,
    mongo,
    db,
    redis,
    meta,
    serving,
    async openStore(options = {}) {
      const s = await serving();
      const store = await createCheckpointStore({
        kafka,
        mongo: db,
        redis: redisConnection(env),
        topicPrefix: env.topicPrefix,
        partitions: env.partitions,
        generation: s.generation,
        redisKeyPrefix: s.redisPrefix,
        encryption: encryptionOptions(env),
        ...options,
      });
      stores.push(store);
      return store;
    },
    async close() {
      for (const s of stores) await s.close();
      await mongo.close();
      redis.disconnect();
    },
  };
}
