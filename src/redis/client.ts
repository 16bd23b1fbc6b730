/**
 * One Redis, or a Redis Cluster: the client types, how we make them from connection
 * settings, and the few operations that differ between them (a key scan must visit every
 * master; a multi-key delete must not cross slots). Everything else works unchanged on an
 * ioredis Cluster because every key of a thread shares the `{t<thread>}` hash tag (keys.ts).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { configurationError } from '../connection-errors.ts';
import { ThreadlogError } from '../errors.ts';

/** What the library accepts and uses: ioredis' `Redis` or `Cluster`. */
export type RedisClient = Redis | Cluster;

/** One Redis server (or a proxy that looks like one). */
export interface RedisUrlOptions {
  url: string;
  /** TLS, username/password etc., passed to ioredis unchanged */
  options?: RedisOptions;
}

/** A Redis Cluster: seed nodes (`host:port`), the rest is discovered. */
export interface RedisClusterConnectionOptions {
  clusterNodes: string[];
  /** per-node settings (TLS, username/password), ioredis' `redisOptions` */
  options?: RedisOptions;
  /** ioredis Cluster settings, passed unchanged (`natMap`, `slotsRefreshInterval`, ...) */
  clusterOptions?: ClusterOptions;
}

export type RedisConnectionOptions = RedisUrlOptions | RedisClusterConnectionOptions;

export const isCluster = (r: RedisClient): r is Cluster => (r as Cluster).isCluster === true;

export const isRedisClient = (r: unknown): r is RedisClient => r instanceof Redis || r instanceof Cluster;

/** `host:port` seed nodes, checked: a typo here is a start-up error, not a hang. */
export function parseClusterNodes(nodes: readonly string[]): Array<{ host: string; port: number }> {
  if (nodes.length === 0) throw new ThreadlogError('invalid-options', 'redis: clusterNodes needs at least one host:port');
  return nodes.map((n) => {
    // host:port, an IPv6 address in brackets; no scheme (a URL here is a common mistake)
    const m = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]@]+)):(\d{1,5})\s*$/.exec(n);
    const port = Number(m?.[3]);
    if (!m || !(port > 0 && port < 65536)) {
      throw new ThreadlogError('invalid-options', `redis: cluster node ${JSON.stringify(n)} is not host:port (e.g. 10.0.0.5:6379)`);
    }
    return { host: (m[1] ?? m[2])!, port };
  });
}

/**
 * A client from connection settings. `base` are the caller's defaults for a node connection
 * (timeouts, retries); the settings' own `options` win. A Cluster keeps its offline queue:
 * commands sent while a slot moves wait for the new master instead of failing at once, and
 * the callers bound that wait (the store's per-call deadline, the projector's back-off).
 */
export function createRedisClient(target: RedisConnectionOptions, base: RedisOptions = {}): RedisClient {
  if ('clusterNodes' in target) {
    const { lazyConnect, ...nodeBase } = base;
    return new Cluster(parseClusterNodes(target.clusterNodes), {
      ...(lazyConnect === undefined ? {} : { lazyConnect }),
      // a failover takes cluster-node-timeout plus an election; refresh the slot map meanwhile
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      slotsRefreshTimeout: 2_000,
      slotsRefreshInterval: 5_000,
      ...target.clusterOptions,
      redisOptions: { ...nodeBase, ...target.options, ...target.clusterOptions?.redisOptions },
    });
  }
  return new Redis(target.url, { ...base, ...target.options });
}

/** where a wrong password or an untrusted certificate is fixed, for messages */
export const REDIS_SETTINGS = {
  credentials: 'user:password in THREADLOG_REDIS_URL, or redis.options.username/password',
  tls: 'THREADLOG_REDIS_TLS_CA_FILE, or redis.options.tls.ca',
};

/**
 * Connects a lazily made client. Resolves true when it is ready, false when Redis is not
 * reachable (the caller reads from MongoDB meanwhile); rejects with a typed error naming
 * Redis when it refused our credentials or its certificate is not trusted — configuration
 * errors that retrying would only hide. ioredis rejects connect() with "Connection is
 * closed" and says why only in its 'error' event, so that is listened to.
 */
export async function connectRedis(redis: RedisClient, where: string): Promise<boolean> {
  let first: unknown;
  const onError = (e: unknown): void => {
    first ??= e;
  };
  redis.on('error', onError);
  try {
    await redis.connect();
    return true;
  } catch (e) {
    const config = configurationError('Redis', where, first ?? e, REDIS_SETTINGS) ?? configurationError('Redis', where, e, REDIS_SETTINGS);
    if (config !== undefined) throw config;
    return false;
  } finally {
    redis.off('error', onError);
  }
}

/** Where a client points, for messages. */
export function describeRedis(target: RedisConnectionOptions): string {
  return 'clusterNodes' in target ? `Redis Cluster ${target.clusterNodes.join(',')}` : target.url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * A plain client pointed at one node of a Redis Cluster works for keys of that node's slots
 * only and fails with MOVED on the rest: refuse it at start with what to do instead. Needs a
 * connected client; a Redis that does not answer is not checked (the caller treats it as down).
 */
export async function assertRedisTopology(redis: RedisClient, where: string): Promise<void> {
  if (isCluster(redis)) return;
  // a server that refuses INFO (some managed services rename it) is not checked
  const info = await redis.info('cluster').catch(() => '');
  if (/^cluster_enabled:1\s*$/m.test(info)) throw clusterModeError(where);
}

export function clusterModeError(where: string): ThreadlogError {
  return new ThreadlogError(
    'invalid-options',
    `${where} is a node of a Redis Cluster (cluster_enabled:1), but it was given as a single Redis: keys of other nodes' ` +
      `slots would fail with MOVED. Give the cluster's nodes instead: THREADLOG_REDIS_CLUSTER_NODES=host:port,host:port,... ` +
      `(library: redis: { clusterNodes: [...] }, or pass an ioredis Cluster)`,
  );
}

/** A MOVED/ASK reply on a plain client: the same misconfiguration, found later. */
export const isRedirection = (e: unknown): boolean => e instanceof Error && e.name === 'ReplyError' && /^(MOVED|ASK) \d+ /.test(e.message);

/** The nodes that hold keys: every master of a Cluster, or the one server. */
export function dataNodes(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}

/**
 * Visits every key matching `pattern` (SCAN on every master of a Cluster: a SCAN sent to a
 * Cluster client runs on one random node) and deletes them one key per command, so keys of
 * different slots never meet in one command. Returns how many were deleted.
 */
export async function deleteKeysMatching(redis: RedisClient, pattern: string, keep: (key: string) => boolean = () => false): Promise<number> {
  let deleted = 0;
  for (const node of dataNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      const mine = keys.filter((k) => !keep(k));
      if (mine.length === 0) continue;
      const replies = (await node.pipeline(mine.map((k) => ['unlink', k])).exec()) ?? [];
      for (const [err, n] of replies) {
        if (err) throw err;
        deleted += Number(n);
      }
    } while (cursor !== '0');
  }
  return deleted;
}
