import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/cli/env.ts';

describe('parseEnv', () => {
  it('defaults to the local stack', () => {
    const env = parseEnv({});
    expect(env.kafkaBrokers).toEqual(['127.0.0.1:19092']);
    expect(env.mongoUrl).toBe('mongodb://127.0.0.1:27018/');
    expect(env.redisUrl).toBe('redis://127.0.0.1:16379');
    expect(env.topicPrefix).toBe('threadlog');
    expect(env.partitions).toBe(12);
  });

  it('takes production endpoints', () => {
    const env = parseEnv({
      THREADLOG_KAFKA_BROKERS: 'k1:9092, k2:9092',
      THREADLOG_MONGO_URL: 'mongodb://m1:27017,m2:27017/?replicaSet=rs0',
      THREADLOG_REDIS_URL: 'rediss://cache:6380',
      THREADLOG_PARTITIONS: '48',
    });
    expect(env.kafkaBrokers).toEqual(['k1:9092', 'k2:9092']);
    expect(env.mongoUrl).toContain('replicaSet=rs0');
    expect(env.partitions).toBe(48);
  });

  it('rejects malformed values with a message naming the variable', () => {
    expect(() => parseEnv({ THREADLOG_PARTITIONS: 'many' })).toThrow(/THREADLOG_PARTITIONS/);
    expect(() => parseEnv({ THREADLOG_TOPIC_PREFIX: 'a b' })).toThrow(/THREADLOG_TOPIC_PREFIX/);
  });
});
