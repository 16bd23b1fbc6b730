/**
 * The local cluster mode (infra/cluster.sh) as the failure tests see it: where its nodes
 * listen (same variables and defaults as the script), their pids (to kill -9 one), and a
 * per-file isolated namespace on it (topics, database, Redis prefix), removed after the file.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Cluster, Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { deleteKeysMatching } from '../../../src/redis/client.ts';
import { waitFor } from '../../support/isolation.ts';

const run = promisify(execFile);
export const root = path.resolve(import.meta.dirname, '../../..');

export interface ClusterEndpoints {
  kafkaBrokers: string[];
  /** Redis Cluster nodes, host:port: the first three start as masters */
  redisNodes: string[];
  mongoUrl: string;
  /** THREADLOG_LOCAL_DIR: pid files are under run/ */
  localDir: string;
}

const ports = (v: string | undefined, d: string): number[] => (v ?? d).split(',').map(Number);

export function clusterEndpoints(env: NodeJS.ProcessEnv = process.env): ClusterEndpoints {
  return {
    kafkaBrokers: ports(env.THREADLOG_CLUSTER_KAFKA_PORTS, '21092,21093,21094').map((p) => `127.0.0.1:${p}`),
    redisNodes: ports(env.THREADLOG_CLUSTER_REDIS_PORTS, '21301,21302,21303,21304,21305,21306').map((p) => `127.0.0.1:${p}`),
    mongoUrl: env.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${env.THREADLOG_MONGO_PORT ?? '27018'}/`,
    localDir: env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local'),
  };
}

/** `infra/cluster.sh <cmd>`: `up` also starts again whatever a test killed (idempotent). */
export async function clusterScript(cmd: 'up' | 'down' | 'status'): Promise<string> {
  try {
    const { stdout } = await run('bash', [path.join(root, 'infra/cluster.sh'), cmd], { cwd: root, timeout: 10 * 60_000 });
    return stdout;
  } catch (e) {
    throw new Error(`infra/cluster.sh ${cmd} failed:\n${(e as { stderr?: string }).stderr ?? String(e)}`);
  }
}

export const kafkaNodeName = (nodeId: number): string => `cluster-kafka-${nodeId}`;
export const redisNodeName = (port: number): string => `cluster-redis-${port}`;

export function pidOf(ep: ClusterEndpoints, name: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(ep.localDir, 'run', `${name}.pid`), 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** kill -9 a node of the cluster mode by its pid file; resolves once the process is gone. */
export async function killNode(ep: ClusterEndpoints, name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const pid = pidOf(ep, name);
  if (pid === undefined) throw new Error(`${name} is not running (no live pid file under ${ep.localDir}/run)`);
  process.kill(pid, signal);
  await waitFor(() => !alive(pid), { timeoutMs: 60_000, intervalMs: 50, what: `${name} (pid ${pid}) to exit after ${signal}` });
}

/** partition -> node id of its leader (-1: none) */
export async function leaders(admin: Admin, topic: string): Promise<Map<number, number>> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return new Map((meta.topics[0]?.partitions ?? []).map((p) => [p.partitionId, p.leader]));
}

/** every partition of these topics has all its replicas in sync (a restarted broker caught up) */
export async function waitInSync(admin: Admin, topics: string[], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      const meta = await admin.fetchTopicMetadata({ topics });
      return meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length));
    },
    { timeoutMs, intervalMs: 250, what: `every replica of ${topics.join(', ')} back in sync` },
  );
}

/** The port of the Redis master serving `key`'s slot, asked of the cluster itself. */
export async function masterPortOf(cluster: Cluster, key: string): Promise<number> {
  const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', key));
  const slots = (await cluster.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string], ...unknown[]]>;
  const range = slots.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no master serves slot ${slot}`);
  return Number(range[2][1]);
}

/** `role:` of one Redis node (master / slave), or 'down'. */
export async function redisRole(hostPort: string): Promise<string> {
  const [host, port] = hostPort.split(':');
  const r = new Redis({ host, port: Number(port), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1_000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return /^role:(\w+)/m.exec(await r.info('replication'))?.[1] ?? 'unknown';
  } catch {
    return 'down';
  } finally {
    r.disconnect();
  }
}

/** the Redis Cluster answers on every slot (cluster_state:ok on every live node) */
export async function waitRedisClusterOk(ep: ClusterEndpoints, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      for (const n of ep.redisNodes) {
        const [host, port] = n.split(':');
        const r = new Redis({ host, port: Number(port), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        r.on('error', () => undefined);
        try {
          await r.connect();
          if (!/^cluster_state:ok/m.test(await r.cluster('INFO'))) return false;
        } finally {
          r.disconnect();
        }
      }
      return true;
    },
    { timeoutMs, intervalMs: 250, what: 'the Redis Cluster to report cluster_state:ok on every node' },
  );
}

export interface ClusterStack {
  endpoints: ClusterEndpoints;
  id: string;
  topicPrefix: string;
  dbName: string;
  redisPrefix: string;
  kafka: Kafka;
  admin(): Promise<Admin>;
  mongo(): Promise<MongoClient>;
  /** a Cluster client of the test's own (closed after the file) */
  redis(): Cluster;
  unique(label: string): string;
  /** the THREADLOG_* variables pointing an entry point at this namespace on the cluster */
  envVars(): Record<string, string>;
}

/**
 * Per-file isolation on the cluster, like test/support/isolation.ts on the single stack.
 * Before the file: every node of the cluster mode is up (a previous file may have killed one)
 * and the Redis Cluster serves every slot.
 */
export function useClusterStack(): ClusterStack {
  const endpoints = clusterEndpoints();
  const id = `k${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const kafka = new Kafka({ clientId: `threadlog-cluster-test-${id}`, brokers: endpoints.kafkaBrokers, logLevel: logLevel.NOTHING });
  let admin: Admin | undefined;
  let mongo: MongoClient | undefined;
  let redis: Cluster | undefined;
  let counter = 0;
  const stack: ClusterStack = {
    endpoints,
    id,
    topicPrefix: id,
    dbName: id,
    redisPrefix: `${id}:`,
    kafka,
    async admin() {
      if (!admin) {
        admin = kafka.admin();
        await admin.connect();
      }
      return admin;
    },
    async mongo() {
      mongo ??= await new MongoClient(endpoints.mongoUrl).connect();
      return mongo;
    },
    redis() {
      redis ??= new Cluster(endpoints.redisNodes.map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })), { redisOptions: { maxRetriesPerRequest: 2 } });
      return redis;
    },
    unique(label) {
      counter += 1;
      return `${id}-${label}-${counter}`;
    },
    envVars: () => ({
      THREADLOG_KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
      THREADLOG_MONGO_URL: endpoints.mongoUrl,
      THREADLOG_MONGO_DB: id,
      THREADLOG_REDIS_CLUSTER_NODES: endpoints.redisNodes.join(','),
      THREADLOG_REDIS_PREFIX: `${id}:`,
      THREADLOG_TOPIC_PREFIX: id,
    }),
  };

  afterAll(async () => {
    // a test that failed half-way may have left a node down: bring it back for the next file
    await clusterScript('up');
    const a = await stack.admin();
    const topics = (await a.listTopics()).filter((t) => t.startsWith(id));
    if (topics.length > 0) await a.deleteTopics({ topics, timeout: 60_000 }).catch(() => undefined);
    const groups = (await a.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(id));
    if (groups.length > 0) await a.deleteGroups(groups).catch(() => undefined);
    await a.disconnect();
    const m = await stack.mongo();
    await m.db(stack.dbName).dropDatabase();
    await m.close();
    const r = stack.redis();
    await deleteKeysMatching(r, `${stack.redisPrefix}*`);
    r.disconnect();
  }, 600_000);

  return stack;
}
