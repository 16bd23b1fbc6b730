/**
 * The environment, parsed once for every entry point (CLI, projector, demo, benchmarks).
 * The library itself never reads process.env; it gets these values as options.
 * Defaults point at the local stack started by infra/stack.sh.
 */
import { z } from 'zod';

const schema = z.object({
  THREADLOG_KAFKA_PORT: z.string().regex(/^\d+$/).default('19092'),
  THREADLOG_MONGO_PORT: z.string().regex(/^\d+$/).default('27018'),
  THREADLOG_REDIS_PORT: z.string().regex(/^\d+$/).default('16379'),
  THREADLOG_KAFKA_BROKERS: z.string().min(1).optional(),
  // multi-host seed lists (m1:27017,m2:27017) are not WHATWG URLs, so check the scheme only
  THREADLOG_MONGO_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').optional(),
  THREADLOG_MONGO_DB: z.string().min(1).default('threadlog'),
  THREADLOG_REDIS_URL: z.string().url().optional(),
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
});

export interface ThreadlogEnv {
  kafkaBrokers: string[];
  mongoUrl: string;
  mongoDb: string;
  redisUrl: string;
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
  return {
    kafkaBrokers: (e.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${e.THREADLOG_KAFKA_PORT}`).split(',').map((s) => s.trim()),
    mongoUrl: e.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${e.THREADLOG_MONGO_PORT}/`,
    mongoDb: e.THREADLOG_MONGO_DB,
    redisUrl: e.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${e.THREADLOG_REDIS_PORT}`,
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
  };
}
