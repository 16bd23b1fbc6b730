/**
 * The library on the cluster mode, nothing killed: every Redis script and multi-key command
 * runs on a Redis Cluster (threads spread over all three masters, no CROSSSLOT), watermarks
 * and the generation notice travel by pub/sub through the cluster, a store and a projector
 * work end to end, a rebuild switches generations; and the two configuration mistakes the
 * issue names are caught at start: a cluster node given as one Redis, a topic with one replica.
 */
import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { Cluster } from 'ioredis';
import { createCheckpointStore, createProjector, isThreadlogError, type CheckpointStore, type Logger } from '../../src/index.ts';
import { parseEnv, redisConnection } from '../../src/cli/env.ts';
import { rebuildCommand } from '../../src/cli/rebuild.ts';
import { probeServices } from '../../src/health.ts';
import { createMetaStore } from '../../src/mongo/meta.ts';
import { createRedisCache, type Watermark } from '../../src/redis/cache.ts';
import { deleteKeysMatching } from '../../src/redis/client.ts';
import { publishGenerationSwitch, subscribeGenerationSwitch, type GenerationSwitch } from '../../src/redis/generation.ts';
import { cpId } from '../projection/fixtures.ts';
import { checkpoint } from '../store/helpers.ts';
import { waitFor } from '../support/isolation.ts';
import { masterPortOf, useClusterStack } from './support/cluster.ts';

const stack = useClusterStack();
const PARTITIONS = 6;
const { ConfigResourceTypes } = kafkajs;
const at = (offset: number) => ({ partition: 2, offset: String(offset) });

function capturingLogger(lines: Array<{ level: string; msg: string }>): Logger {
  const l: Logger = {
    debug: () => undefined,
    info: (_o, msg) => void lines.push({ level: 'info', msg: msg ?? '' }),
    warn: (_o, msg) => void lines.push({ level: 'warn', msg: msg ?? '' }),
    error: (_o, msg) => void lines.push({ level: 'error', msg: msg ?? '' }),
    child: () => l,
  };
  return l;
}

async function store(extra: Partial<Parameters<typeof createCheckpointStore>[0]> = {}): Promise<CheckpointStore> {
  return createCheckpointStore({
    kafka: { brokers: stack.endpoints.kafkaBrokers },
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { clusterNodes: stack.endpoints.redisNodes },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    readTimeoutMs: 30_000,
    ...extra,
  });
}

describe('the cluster mode as infra/cluster.sh made it', () => {
  it('has the checkpoints topic on 3 replicas with min.insync.replicas=2', async () => {
    const admin = await stack.admin();
    const meta = await admin.fetchTopicMetadata({ topics: ['threadlog.checkpoints'] });
    const parts = meta.topics[0]!.partitions;
    expect(parts.length).toBeGreaterThan(0);
    for (const p of parts) expect(p.replicas.length).toBe(3);
    const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'threadlog.checkpoints', configNames: ['min.insync.replicas', 'retention.ms'] }] });
    const value = (n: string) => cfg.resources[0]!.configEntries.find((c) => c.configName === n)?.configValue;
    expect(value('min.insync.replicas')).toBe('2');
    expect(value('retention.ms')).toBe('-1');
    expect((await admin.describeCluster()).brokers.length).toBe(3);
  });
});

describe('the Redis cache on a Redis Cluster', () => {
  it('runs every script and multi-key command on one slot, for threads on all three masters', async () => {
    const cache = createRedisCache({ redis: stack.redis(), prefix: stack.redisPrefix, ttlSeconds: 60 });
    // thread ids that try to break the tag: braces, colons, an empty-looking one
    const threads = Array.from({ length: 24 }, (_, i) => stack.unique(i % 3 === 0 ? `t}{${i}` : i % 3 === 1 ? `t:${i}:{x}` : `t${i}`));
    const masters = new Set(await Promise.all(threads.map((t) => masterPortOf(stack.redis(), cache.keys.head(t, '')))));
    expect(masters.size).toBe(3);
    for (const t of threads) {
      expect(await cache.advanceHead(t, '', { checkpointId: cpId(2), position: at(20) }, 'two')).toBe(true);
      expect(await cache.advanceHead(t, '', { checkpointId: cpId(1), position: at(21) }, 'older id')).toBe(false);
      expect(await cache.setCheckpoint(t, '', cpId(1), at(10), 'one')).toBe(true);
      expect(await cache.setCheckpoint(t, 'ns', cpId(2), at(20), 'two in ns')).toBe(true);
      expect((await cache.getHead(t, ''))?.payload.toString()).toBe('two');
      expect((await cache.getCheckpoint(t, 'ns', cpId(2)))?.toString()).toBe('two in ns');
      // tombstone script, SMEMBERS, then MULTI with DEL of all members + SREM: one slot
      expect(await cache.deleteThread(t, at(30))).toBe(3);
      expect(await cache.getHead(t, '')).toBeUndefined();
      expect(await cache.setCheckpoint(t, '', cpId(3), at(29), 'lagging writer')).toBe(false);
    }
    await cache.syncReplicas();
  });

  it('publishes watermarks through the cluster (Lua PUBLISH) to a subscriber on any node', async () => {
    const cache = createRedisCache({ redis: stack.redis(), prefix: stack.redisPrefix });
    const topic = `${stack.topicPrefix}.checkpoints`;
    const got: Watermark[] = [];
    // another client: its subscriber connection lands on a random node of the six
    const otherClient = new Cluster(stack.endpoints.redisNodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
    const other = createRedisCache({ redis: otherClient, prefix: stack.redisPrefix });
    const sub = await other.subscribeWatermarks(topic, (w) => got.push(w));
    try {
      expect(await cache.publishWatermarks(topic, [{ partition: 0, offset: '5' }, { partition: 4, offset: '9' }])).toEqual([0, 4]);
      expect(await cache.publishWatermarks(topic, [{ partition: 0, offset: '3' }])).toEqual([]);
      await waitFor(() => got.length >= 2, { what: 'two watermark messages' });
      expect(got).toEqual(expect.arrayContaining([{ partition: 0, offset: '5' }, { partition: 4, offset: '9' }]));
      expect(await other.getWatermarks(topic)).toEqual(new Map([[0, '5'], [4, '9']]));
    } finally {
      await sub.close();
      otherClient.disconnect();
    }
  });

  it('carries the generation-switch notice and deletes a prefix on every master', async () => {
    const notices: GenerationSwitch[] = [];
    const base = `${stack.redisPrefix}g:`;
    const sub = await subscribeGenerationSwitch(stack.redis(), base, (n) => notices.push(n));
    try {
      await waitFor(async () => {
        await publishGenerationSwitch(stack.redis(), base, { current: 'v2', previous: 'v1' });
        return notices.length > 0;
      }, { what: 'the generation notice' });
      expect(notices[0]).toEqual({ current: 'v2', previous: 'v1' });
    } finally {
      await sub.close();
    }
    const cache = createRedisCache({ redis: stack.redis(), prefix: `${stack.redisPrefix}drop:` });
    for (let i = 0; i < 30; i++) await cache.advanceHead(`d${i}`, '', { checkpointId: cpId(1), position: at(i) }, 'x');
    expect(await deleteKeysMatching(stack.redis(), `${stack.redisPrefix}drop:*`)).toBe(60); // heads + key sets
    expect(await deleteKeysMatching(stack.redis(), `${stack.redisPrefix}drop:*`)).toBe(0);
  });
});

describe('a store and projectors on the cluster', () => {
  it('saves, reads at every consistency, deletes, rebuilds and switches generations', async () => {
    const projector = createProjector({ topicPrefix: stack.topicPrefix, generation: 'v1', partitions: PARTITIONS, brokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName, redisClusterNodes: stack.endpoints.redisNodes, redisPrefix: stack.redisPrefix });
    await projector.start();
    const writer = await store({ pinGeneration: false, generationPollMs: 60_000 });
    const reader = await store({ pinGeneration: false, generationPollMs: 60_000 });
    try {
      const latest = new Map<string, string>();
      const threads = Array.from({ length: 12 }, (_, i) => `lib-${i}`);
      for (let step = 1; step <= 4; step++) {
        await Promise.all(threads.map(async (t) => {
          const cp = checkpoint({ step, t }, step);
          await writer.save({ threadId: t, checkpoint: cp, ...(latest.has(t) ? { parentCheckpointId: latest.get(t)! } : {}) });
          latest.set(t, cp.id);
        }));
      }
      for (const t of threads) {
        expect((await writer.load({ threadId: t }))?.checkpointId).toBe(latest.get(t)); // session: own write
        expect((await reader.load({ threadId: t }, { consistency: 'strong' }))?.checkpointId).toBe(latest.get(t));
      }
      // the projector's heads are in the cluster: eventual reads of another store hit L2
      const fresh = await store();
      for (const t of threads) expect((await fresh.load({ threadId: t }, { consistency: 'eventual' }))?.checkpointId).toBe(latest.get(t));
      expect(fresh.stats().hits.l2).toBeGreaterThan(0);
      await fresh.close();

      const receipt = await writer.deleteThread('lib-0');
      expect(await reader.load({ threadId: 'lib-0' }, { after: receipt })).toBeUndefined();
      for await (const c of reader.list({ threadId: 'lib-0' })) expect.unreachable(`deleted thread listed ${c.checkpointId}`);

      // rebuild into v2 on the cluster: its projector, the switch, the notice followed by running stores
      const env = parseEnv({ ...stack.envVars(), THREADLOG_GENERATION: 'v1', THREADLOG_PARTITIONS: String(PARTITIONS) });
      expect(redisConnection(env)).toEqual({ clusterNodes: stack.endpoints.redisNodes });
      const meta = createMetaStore((await stack.mongo()).db(stack.dbName));
      const rebuilt = rebuildCommand(env, { generation: 'v2', switch: true, quiet: true });
      const rec = await waitFor(() => meta.getGeneration('v2'), { what: 'the v2 record' });
      const v2 = createProjector({ topicPrefix: stack.topicPrefix, generation: 'v2', groupId: rec.groupId, partitions: PARTITIONS, brokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName, redisClusterNodes: stack.endpoints.redisNodes, redisPrefix: rec.redisPrefix });
      await v2.start();
      try {
        expect(await rebuilt).toBe(0);
        expect((await meta.getPointer())?.current).toBe('v2');
        await projector.stop(); // from here on only v2 is projected: strong reads must follow the switch
        const cp = checkpoint({ after: 'switch' }, 9);
        await writer.save({ threadId: 'lib-1', checkpoint: cp, parentCheckpointId: latest.get('lib-1')! });
        expect((await reader.load({ threadId: 'lib-1' }, { consistency: 'strong', timeoutMs: 20_000 }))?.checkpointId).toBe(cp.id);
      } finally {
        await v2.stop();
      }
    } finally {
      await writer.close();
      await reader.close();
      await projector.stop();
    }
  });
});

describe('configuration mistakes', () => {
  it('refuses a Redis URL that points at one node of a cluster, saying what to set instead', async () => {
    const url = `redis://${stack.endpoints.redisNodes[0]}`;
    const err = await store({ redis: { url } }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isThreadlogError(err, 'invalid-options')).toBe(true);
    expect((err as Error).message).toMatch(/is a node of a Redis Cluster.*THREADLOG_REDIS_CLUSTER_NODES/);

    const p = createProjector({ topicPrefix: stack.topicPrefix, generation: 'x', partitions: PARTITIONS, brokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName, redisUrl: url, redisPrefix: stack.redisPrefix });
    await expect(p.start()).rejects.toThrow(/is a node of a Redis Cluster/);

    const probe = await probeServices({ kafkaBrokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, redisUrl: url });
    expect(probe.redis).toMatchObject({ ok: false, error: expect.stringMatching(/THREADLOG_REDIS_CLUSTER_NODES/) });
    const ok = await probeServices({ kafkaBrokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, redisUrl: url, redisClusterNodes: stack.endpoints.redisNodes });
    expect(ok.redis.ok).toBe(true);
  });

  it('warns at start-up about a topic with one replica on the 3-broker cluster, naming the risk', async () => {
    const prefix = `${stack.topicPrefix}-rf1`;
    const admin = await stack.admin();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [`${prefix}.checkpoints`, `${prefix}.dead-letter`].map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] })),
    });
    const lines: Array<{ level: string; msg: string }> = [];
    const s = await store({ topicPrefix: prefix, redis: false, logger: capturingLogger(lines) });
    await s.close();
    const warning = lines.find((l) => l.level === 'warn' && /replication factor 1/.test(l.msg));
    expect(warning?.msg).toMatch(/cluster of 3 brokers.*cannot be saved.*acknowledged events are gone/);

    const p = createProjector({ topicPrefix: prefix, generation: 'rf1', partitions: PARTITIONS, brokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName, redisPrefix: stack.redisPrefix });
    await p.start();
    try {
      expect(p.warnings().join('\n')).toMatch(/replication factor 1 on a cluster of 3 brokers/);
    } finally {
      await p.stop();
    }
    // and the cluster's own topics do not warn
    const quiet: Array<{ level: string; msg: string }> = [];
    const t = await store({ redis: false, logger: capturingLogger(quiet) });
    await t.close();
    expect(quiet.filter((l) => /replication factor/.test(l.msg))).toEqual([]);
  });
});
