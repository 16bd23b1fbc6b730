/**
 * What a benchmark run leaves behind, removed at its end: the topics of its prefix, its Redis
 * keys and its database. Each part is best effort (a benchmark that failed half-way still
 * cleans up what exists).
 */
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import type { ThreadlogEnv } from '../../src/cli/env.ts';
import { createKafkaClient } from '../../src/kafka/client.ts';
import { deleteKeysMatching } from '../../src/redis/client.ts';

export async function removeBenchData(env: Pick<ThreadlogEnv, 'kafkaBrokers' | 'redisUrl' | 'mongoUrl'>, prefix: string, clientId: string): Promise<void> {
  const admin = createKafkaClient({ brokers: env.kafkaBrokers, clientId }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [`${prefix}.checkpoints`, `${prefix}.dead-letter`] }).catch(() => undefined);
  await admin.disconnect();
  const redis = new Redis(env.redisUrl);
  await deleteKeysMatching(redis, `${prefix}:*`).catch(() => undefined);
  await redis.quit();
  const mongo = new MongoClient(env.mongoUrl);
  await mongo.db(prefix).dropDatabase().catch(() => undefined);
  await mongo.close();
}
