import { describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { clusterModeError, createRedisClient, describeRedis, isCluster, isRedirection, parseClusterNodes } from '../../src/redis/client.ts';
import { replicationWarnings } from '../../src/kafka/topics.ts';
import { isThreadlogError } from '../../src/errors.ts';

describe('Redis client settings', () => {
  it('parses cluster seed nodes, IPv6 in brackets included, and refuses anything else', () => {
    expect(parseClusterNodes(['10.0.0.1:6379', ' cache-1:7000 ', '[::1]:7001'])).toEqual([
      { host: '10.0.0.1', port: 6379 },
      { host: 'cache-1', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    for (const bad of [[], ['cache'], ['cache:0'], ['cache:65536'], ['redis://cache:6379'], ['a b:1']]) {
      let err: unknown;
      try {
        parseClusterNodes(bad);
      } catch (e) {
        err = e;
      }
      expect(isThreadlogError(err, 'invalid-options'), JSON.stringify(bad)).toBe(true);
    }
  });

  it('makes a Cluster from nodes and a Redis from a URL, lazily, and says which in messages', () => {
    const c = createRedisClient({ clusterNodes: ['127.0.0.1:1'] }, { lazyConnect: true, maxRetriesPerRequest: 0 });
    const r = createRedisClient({ url: 'redis://127.0.0.1:1' }, { lazyConnect: true });
    try {
      expect(c).toBeInstanceOf(Cluster);
      expect(isCluster(c)).toBe(true);
      expect((c as Cluster).options.redisOptions?.maxRetriesPerRequest).toBe(0);
      expect(r).toBeInstanceOf(Redis);
      expect(isCluster(r)).toBe(false);
    } finally {
      c.disconnect();
      r.disconnect();
    }
    expect(describeRedis({ url: 'redis://user:secret@cache:6379' })).toBe('redis://***@cache:6379');
    expect(describeRedis({ clusterNodes: ['a:1', 'b:2'] })).toBe('Redis Cluster a:1,b:2');
  });

  it('recognises a redirection as the sign of a cluster node used as one Redis', () => {
    const moved = Object.assign(new Error('MOVED 3999 127.0.0.1:6381'), { name: 'ReplyError' });
    expect(isRedirection(moved)).toBe(true);
    expect(isRedirection(Object.assign(new Error('ASK 3999 127.0.0.1:6381'), { name: 'ReplyError' }))).toBe(true);
    expect(isRedirection(Object.assign(new Error('WRONGTYPE'), { name: 'ReplyError' }))).toBe(false);
    expect(isRedirection(new Error('MOVED 1 x:1'))).toBe(false); // not a reply
    const e = clusterModeError('Redis at 127.0.0.1:6379');
    expect(e.code).toBe('invalid-options');
    expect(e.message).toMatch(/node of a Redis Cluster.*THREADLOG_REDIS_CLUSTER_NODES/);
  });
});

describe('topic replication warnings', () => {
  it('warn about one replica on a multi-broker cluster only, naming the risk and the fix', () => {
    expect(replicationWarnings({ topic: 't.checkpoints', replicationFactor: 1, brokers: 1 })).toEqual([]);
    expect(replicationWarnings({ topic: 't.checkpoints', replicationFactor: 3, brokers: 3 })).toEqual([]);
    const [w] = replicationWarnings({ topic: 't.checkpoints', replicationFactor: 1, brokers: 3 });
    expect(w).toMatch(/t\.checkpoints has replication factor 1 on a cluster of 3 brokers/);
    expect(w).toMatch(/cannot be saved/);
    expect(w).toMatch(/gone for good/);
    expect(w).toMatch(/replication factor 3 and min\.insync\.replicas=2/);
  });
});
