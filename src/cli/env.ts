/**
 * The environment, parsed once for every entry point (CLI, projector, demo, benchmarks).
 * The library itself never reads process.env; it gets these values as options.
 * Defaults point at the local stack started by infra/stack.sh.
 */
import { readFileSync } from 'node:fs';
import type { SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { createLocalKeyProvider, parseMasterKey } from '../crypto/key-provider.ts';
import { parseClusterNodes, type RedisConnectionOptions } from '../redis/client.ts';
import type { EncryptionOptions } from '../store/options.ts';

const schema = z.object({
  THREADLOG_KAFKA_PORT: z.string().regex(/^\d+$/).default('19092'),
  THREADLOG_MONGO_PORT: z.string().regex(/^\d+$/).default('27018'),
  THREADLOG_REDIS_PORT: z.string().regex(/^\d+$/).default('16379'),
  THREADLOG_KAFKA_BROKERS: z.string().min(1).optional(),
  // Kafka over TLS (the CA that signed the brokers' certificates, PEM) and SASL
  THREADLOG_KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  THREADLOG_KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  THREADLOG_KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  THREADLOG_KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  // multi-host seed lists (m1:27017,m2:27017) are not WHATWG URLs, so check the scheme only
  THREADLOG_MONGO_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').optional(),
  THREADLOG_MONGO_DB: z.string().min(1).default('threadlog'),
  THREADLOG_REDIS_URL: z.string().url().optional(),
  // TLS: the CA that signed the Redis server's certificate (PEM file), for a rediss:// URL
  THREADLOG_REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  // a Redis Cluster's seed nodes (host:port,host:port,...): set, it replaces THREADLOG_REDIS_URL
  THREADLOG_REDIS_CLUSTER_NODES: z.string().min(1).optional(),
  // address translation for a cluster behind NAT (Docker): announced=reachable,... (ioredis natMap)
  THREADLOG_REDIS_CLUSTER_NAT_MAP: z.string().min(1).optional(),
  THREADLOG_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]+$/).default('threadlog'),
  THREADLOG_PARTITIONS: z.coerce.number().int().positive().default(12),
  // the projector: which projection generation it writes, its Redis keys, its ops endpoint
  THREADLOG_GENERATION: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('v1'),
  THREADLOG_REDIS_PREFIX: z.string().regex(/^[^{}]*$/, 'must not contain braces').default('threadlog:'),
  THREADLOG_OPS_HOST: z.string().min(1).default('127.0.0.1'),
  THREADLOG_OPS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  THREADLOG_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  // how long a dead projector keeps its partitions, and how often a live one says it lives
  // (defaults measured by bench/failover.ts; docs/operations.md "After a projector dies")
  THREADLOG_PROJECTOR_SESSION_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(10_000),
  THREADLOG_PROJECTOR_HEARTBEAT_MS: z.coerce.number().int().min(100).default(1_000),
  // the document layout of a generation the projector creates (an existing one keeps its own)
  THREADLOG_PROJECTION_LAYOUT: z.enum(['1', '2']).default('2'),
  // encryption (README "Security"): the master key, 32 bytes as hex/base64, from a file (preferred:
  // the environment of a process is easier to leak) or the variable itself; set, every new event
  // is encrypted with its thread's data key and `threadlog erase` works
  THREADLOG_MASTER_KEY_FILE: z.string().min(1).optional(),
  THREADLOG_MASTER_KEY: z.string().min(1).optional(),
  // during a master-key rotation: the old keys' files (comma-separated), to read data keys not re-wrapped yet
  THREADLOG_PREVIOUS_MASTER_KEY_FILES: z.string().min(1).optional(),
});

export interface ThreadlogEnv {
  kafkaBrokers: string[];
  /** TLS to the brokers: true (system CAs) or the CA given in THREADLOG_KAFKA_TLS_CA_FILE; undefined: plaintext */
  kafkaSsl: { ca: Buffer[] } | true | undefined;
  /** SASL (THREADLOG_KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD) */
  kafkaSasl: SASLOptions | undefined;
  mongoUrl: string;
  mongoDb: string;
  redisUrl: string;
  /** PEM of the CA that signed Redis' TLS certificate (THREADLOG_REDIS_TLS_CA_FILE) */
  redisTlsCa: Buffer | undefined;
  /** a Redis Cluster's seed nodes; when set, used instead of redisUrl */
  redisClusterNodes: string[] | undefined;
  /** announced node address -> address to connect to (a cluster behind NAT, e.g. Docker) */
  redisClusterNatMap: Record<string, { host: string; port: number }> | undefined;
  topicPrefix: string;
  partitions: number;
  logLevel: string;
  generation: string;
  redisPrefix: string;
  opsHost: string;
  /** 0 picks a free port */
  opsPort: number;
  projectorSessionTimeoutMs: number;
  projectorHeartbeatMs: number;
  /** layout of a projection generation the projector creates (projection/v2: 2) */
  projectionLayout: 1 | 2;
  /** the master key (THREADLOG_MASTER_KEY_FILE or THREADLOG_MASTER_KEY); undefined: encryption off */
  masterKey: Buffer | undefined;
  /** older master keys (THREADLOG_PREVIOUS_MASTER_KEY_FILES), for a rotation in progress */
  previousMasterKeys: Buffer[];
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`invalid environment: ${variable}: cannot read ${file} (${err instanceof Error ? err.message : String(err)})`);
  }
}

function readMasterKeyFile(file: string, variable: string): Buffer {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (err) {
    throw new Error(`invalid environment: ${variable}: cannot read ${file} (${err instanceof Error ? err.message : String(err)})`);
  }
  return masterKeyOf(text, `${variable} (${file})`);
}

function masterKeyOf(input: Buffer | string, where: string): Buffer {
  try {
    return parseMasterKey(input, where);
  } catch (err) {
    throw new Error(`invalid environment: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The store's `encryption` option as the environment configures it (false: no master key set). */
export function encryptionOptions(env: Pick<ThreadlogEnv, 'masterKey' | 'previousMasterKeys'>): EncryptionOptions | false {
  if (env.masterKey === undefined) return false;
  return { keyProvider: createLocalKeyProvider(env.masterKey), previousKeyProviders: env.previousMasterKeys.map((k) => createLocalKeyProvider(k)) };
}

export function parseEnv(env: NodeJS.ProcessEnv = process.env): ThreadlogEnv {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid environment: ${issues}`);
  }
  const e = parsed.data;
  if (e.THREADLOG_PROJECTOR_HEARTBEAT_MS * 3 > e.THREADLOG_PROJECTOR_SESSION_TIMEOUT_MS) {
    throw new Error('invalid environment: THREADLOG_PROJECTOR_HEARTBEAT_MS must be at most a third of THREADLOG_PROJECTOR_SESSION_TIMEOUT_MS (a member that misses two heartbeats must still be alive)');
  }
  const clusterNodes = e.THREADLOG_REDIS_CLUSTER_NODES?.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (clusterNodes !== undefined) {
    try {
      parseClusterNodes(clusterNodes);
    } catch (err) {
      throw new Error(`invalid environment: THREADLOG_REDIS_CLUSTER_NODES: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const saslParts = [e.THREADLOG_KAFKA_SASL_MECHANISM, e.THREADLOG_KAFKA_SASL_USERNAME, e.THREADLOG_KAFKA_SASL_PASSWORD];
  if (saslParts.some((x) => x !== undefined) && saslParts.some((x) => x === undefined)) {
    throw new Error('invalid environment: Kafka SASL needs THREADLOG_KAFKA_SASL_MECHANISM, THREADLOG_KAFKA_SASL_USERNAME and THREADLOG_KAFKA_SASL_PASSWORD together');
  }
  const kafkaSasl = e.THREADLOG_KAFKA_SASL_MECHANISM && e.THREADLOG_KAFKA_SASL_USERNAME && e.THREADLOG_KAFKA_SASL_PASSWORD
    ? ({ mechanism: e.THREADLOG_KAFKA_SASL_MECHANISM, username: e.THREADLOG_KAFKA_SASL_USERNAME, password: e.THREADLOG_KAFKA_SASL_PASSWORD } as SASLOptions)
    : undefined;
  // SASL without TLS would send the password in the clear (PLAIN): TLS is on with SASL
  const kafkaSsl = e.THREADLOG_KAFKA_TLS_CA_FILE !== undefined ? { ca: [readPem(e.THREADLOG_KAFKA_TLS_CA_FILE, 'THREADLOG_KAFKA_TLS_CA_FILE')] } : kafkaSasl ? (true as const) : undefined;
  if (e.THREADLOG_MASTER_KEY_FILE !== undefined && e.THREADLOG_MASTER_KEY !== undefined) {
    throw new Error('invalid environment: set THREADLOG_MASTER_KEY_FILE or THREADLOG_MASTER_KEY, not both');
  }
  const masterKey = e.THREADLOG_MASTER_KEY_FILE !== undefined
    ? readMasterKeyFile(e.THREADLOG_MASTER_KEY_FILE, 'THREADLOG_MASTER_KEY_FILE')
    : e.THREADLOG_MASTER_KEY === undefined ? undefined : masterKeyOf(e.THREADLOG_MASTER_KEY, 'THREADLOG_MASTER_KEY');
  const previousMasterKeys = (e.THREADLOG_PREVIOUS_MASTER_KEY_FILES ?? '').split(',').map((f) => f.trim()).filter((f) => f.length > 0).map((f) => readMasterKeyFile(f, 'THREADLOG_PREVIOUS_MASTER_KEY_FILES'));
  if (previousMasterKeys.length > 0 && masterKey === undefined) {
    throw new Error('invalid environment: THREADLOG_PREVIOUS_MASTER_KEY_FILES needs the current key too (THREADLOG_MASTER_KEY_FILE)');
  }
  let natMap: Record<string, { host: string; port: number }> | undefined;
  if (e.THREADLOG_REDIS_CLUSTER_NAT_MAP !== undefined) {
    natMap = {};
    for (const pair of e.THREADLOG_REDIS_CLUSTER_NAT_MAP.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
      const [from, to, extra] = pair.split('=');
      try {
        if (from === undefined || to === undefined || extra !== undefined) throw new Error(`${JSON.stringify(pair)} is not announced=reachable`);
        parseClusterNodes([from]);
        natMap[from.trim()] = parseClusterNodes([to])[0]!;
      } catch (err) {
        throw new Error(`invalid environment: THREADLOG_REDIS_CLUSTER_NAT_MAP: ${err instanceof Error ? err.message : String(err)} (e.g. 172.28.0.31:6379=127.0.0.1:21301,...)`);
      }
    }
  }
  return {
    kafkaSsl,
    kafkaSasl,
    kafkaBrokers: (e.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${e.THREADLOG_KAFKA_PORT}`).split(',').map((s) => s.trim()),
    mongoUrl: e.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${e.THREADLOG_MONGO_PORT}/`,
    mongoDb: e.THREADLOG_MONGO_DB,
    redisUrl: e.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${e.THREADLOG_REDIS_PORT}`,
    redisTlsCa: e.THREADLOG_REDIS_TLS_CA_FILE === undefined ? undefined : readPem(e.THREADLOG_REDIS_TLS_CA_FILE, 'THREADLOG_REDIS_TLS_CA_FILE'),
    redisClusterNodes: clusterNodes,
    redisClusterNatMap: natMap,
    topicPrefix: e.THREADLOG_TOPIC_PREFIX,
    partitions: e.THREADLOG_PARTITIONS,
    logLevel: e.THREADLOG_LOG_LEVEL,
    generation: e.THREADLOG_GENERATION,
    redisPrefix: e.THREADLOG_REDIS_PREFIX,
    opsHost: e.THREADLOG_OPS_HOST,
    opsPort: e.THREADLOG_OPS_PORT,
    projectorSessionTimeoutMs: e.THREADLOG_PROJECTOR_SESSION_TIMEOUT_MS,
    projectorHeartbeatMs: e.THREADLOG_PROJECTOR_HEARTBEAT_MS,
    projectionLayout: e.THREADLOG_PROJECTION_LAYOUT === '1' ? 1 : 2,
    masterKey,
    previousMasterKeys,
  };
}

/** kafkajs' TLS and SASL settings as the environment gives them (nothing: plaintext, no auth) */
export function kafkaSecurity(env: Pick<ThreadlogEnv, 'kafkaSsl' | 'kafkaSasl'>): { ssl?: { ca: Buffer[] } | true; sasl?: SASLOptions } {
  return { ...(env.kafkaSsl === undefined ? {} : { ssl: env.kafkaSsl }), ...(env.kafkaSasl === undefined ? {} : { sasl: env.kafkaSasl }) };
}

/** The Redis the environment names: a Cluster's nodes when given, else the URL. */
export function redisConnection(env: Pick<ThreadlogEnv, 'redisUrl' | 'redisClusterNodes'> & Partial<Pick<ThreadlogEnv, 'redisClusterNatMap' | 'redisTlsCa'>>): RedisConnectionOptions {
  const tls = env.redisTlsCa === undefined ? {} : { options: { tls: { ca: env.redisTlsCa } } };
  if (!env.redisClusterNodes?.length) return { url: env.redisUrl, ...tls };
  return { clusterNodes: env.redisClusterNodes, ...tls, ...(env.redisClusterNatMap ? { clusterOptions: { natMap: env.redisClusterNatMap } } : {}) };
}

/** For messages: where Redis is, as configured. */
export const redisWhere = (env: Pick<ThreadlogEnv, 'redisUrl' | 'redisClusterNodes'>): string =>
  env.redisClusterNodes?.length ? `Redis Cluster ${env.redisClusterNodes.join(',')}` : env.redisUrl;
