import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import type { StackEndpoints } from './env.ts';

export type ServiceName = 'kafka' | 'ferretdb' | 'redis';

/** Real round trips, not port checks: a port can be open before the service serves. */
export async function probeServices(ep: StackEndpoints): Promise<Record<ServiceName, string | null>> {
  const [kafka, ferretdb, redis] = await Promise.all([
    probeKafka(ep).then(ok, fail),
    probeMongo(ep).then(ok, fail),
    probeRedis(ep).then(ok, fail),
  ]);
  return { kafka, ferretdb, redis };
}

const ok = (): null => null;
const fail = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function probeKafka(ep: StackEndpoints): Promise<void> {
  const kafka = new Kafka({
    clientId: 'threadlog-probe',
    brokers: ep.kafkaBrokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect();
  }
}

async function probeMongo(ep: StackEndpoints): Promise<void> {
  const client = new MongoClient(ep.mongoUrl, { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000 });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

async function probeRedis(ep: StackEndpoints): Promise<void> {
  const redis = new Redis(ep.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}
