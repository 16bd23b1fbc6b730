/**
 * What the operator commands share: clients built from the environment (closed by `close()`),
 * errors that say which service is unreachable and how to start it, and a progress bar on
 * stderr when it is a terminal.
 */
import cliProgress from 'cli-progress';
import { MongoClient, type Db } from 'mongodb';
import type { Kafka } from 'kafkajs';
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { createEventCodec, type EventCodec } from '../events/codec.ts';
import { createKafkaClient } from '../kafka/client.ts';
import { checkpointsTopic } from '../kafka/topics.ts';
import { readThreadLog, type ThreadLog } from '../kafka/thread-reader.ts';
import { createProjectionStore, type ProjectionStore } from '../mongo/projection-store.ts';
import { kafkaSecurity, type ThreadlogEnv } from './env.ts';

export interface Output {
  out(s: string): void;
  err(s: string): void;
  /** show progress bars (stderr is a terminal and output is not JSON) */
  progress: boolean;
}

export const processOutput = (json: boolean): Output => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  progress: !json && process.stderr.isTTY === true,
});

export interface CommandContext {
  env: ThreadlogEnv;
  topic: string;
  codec: EventCodec;
  kafka(): Kafka;
  /** the projection database; connected on first use */
  db(): Promise<Db>;
  projection(): Promise<ProjectionStore>;
  readThread(threadId: string, io: Output): Promise<ThreadLog>;
  close(): Promise<void>;
}

/** An error that names the unreachable service and how to start it. */
export function serviceError(service: 'Kafka' | 'MongoDB' | 'Redis', where: string, envVar: string, cause: unknown): ThreadlogError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ThreadlogError(service === 'Kafka' ? 'kafka-unavailable' : service === 'MongoDB' ? 'mongo-unavailable' : 'redis-unavailable',
    `${service} at ${where} is not reachable (${why}): start the local stack with 'threadlog up' (npm run infra:up), or set ${envVar} to your server`,
    { retriable: true, cause });
}

export function createCommandContext(env: ThreadlogEnv): CommandContext {
  const topic = checkpointsTopic(env.topicPrefix);
  const codec = createEventCodec();
  let kafka: Kafka | undefined;
  let mongo: MongoClient | undefined;
  let db: Db | undefined;
  const brokers = env.kafkaBrokers.join(',');
  const ctx: CommandContext = {
    env,
    topic,
    codec,
    kafka: () => (kafka ??= createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'threadlog-cli', connectionTimeoutMs: 3_000, retry: { retries: 2, initialRetryTime: 200 }, ...kafkaSecurity(env) })),
    async db() {
      if (db) return db;
      const client = new MongoClient(env.mongoUrl, { serverSelectionTimeoutMS: 3_000, connectTimeoutMS: 3_000 });
      try {
        await client.connect();
      } catch (e) {
        await client.close().catch(() => undefined);
        throw serviceError('MongoDB', env.mongoUrl, 'THREADLOG_MONGO_URL', e);
      }
      mongo = client;
      db = client.db(env.mongoDb);
      return db;
    },
    async projection() {
      return createProjectionStore({ db: await ctx.db(), generation: env.generation });
    },
    async readThread(threadId, io) {
      let bar: cliProgress.SingleBar | undefined;
      try {
        const log = await readThreadLog({
          kafka: ctx.kafka(),
          topic,
          threadId,
          codec,
          onProgress: (p) => {
            if (!io.progress || p.total < 10_000) return;
            if (!bar) {
              bar = new cliProgress.SingleBar({ format: `partition ${p.partition} {bar} {percentage}% | {value}/{total} offsets | {events} events`, stream: process.stderr }, cliProgress.Presets.shades_classic);
              bar.start(p.total, 0, { events: 0 });
            }
            bar.update(p.read, { events: p.events });
          },
        });
        bar?.stop();
        if (log.events.length === 0 && log.unreadable.length === 0) {
          throw new ThreadlogError('not-found', `no events for thread ${threadId} in ${topic} (partition ${log.partition}); check THREADLOG_TOPIC_PREFIX and the thread id`);
        }
        return log;
      } catch (e) {
        bar?.stop();
        if (isThreadlogError(e, 'kafka-unavailable')) throw serviceError('Kafka', brokers, 'THREADLOG_KAFKA_BROKERS', e);
        throw e;
      }
    },
    async close() {
      await mongo?.close().catch(() => undefined);
    },
  };
  return ctx;
}

/** Runs a command body with a context; ThreadlogErrors become a message and exit code 1. */
export async function runCommand(env: ThreadlogEnv, io: Output, body: (ctx: CommandContext) => Promise<number>): Promise<number> {
  const ctx = createCommandContext(env);
  try {
    return await body(ctx);
  } catch (e) {
    if (!isThreadlogError(e)) throw e;
    io.err(`threadlog: ${e.message}\n`);
    return e.code === 'not-found' ? 3 : 2;
  } finally {
    await ctx.close();
  }
}
