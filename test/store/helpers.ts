/** Shared by the store integration tests: stores on the file's isolated stack, checkpoints, projectors. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { afterAll } from 'vitest';
import { createCheckpointStore, createProjector, type CheckpointStore, type CheckpointStoreInput, type Projector } from '../../src/index.ts';
import { waitFor, type IsolatedStack } from '../support/isolation.ts';
import { stackEnvVars } from '../support/stack-env.ts';

export const PARTITIONS = 3;
export const GENERATION = 'v1';

/** A store on the file's topics, database and Redis prefix; closed after the file. */
export async function openStore(stack: IsolatedStack, options: Partial<CheckpointStoreInput> = {}): Promise<CheckpointStore> {
  const store = await createCheckpointStore({
    kafka: { brokers: stack.endpoints.kafkaBrokers },
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { url: stack.endpoints.redisUrl },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    readTimeoutMs: 15_000,
    ...options,
  });
  afterAll(() => store.close());
  return store;
}

/** An in-process projector (not inside a store); stopped after the file. */
export async function startProjector(stack: IsolatedStack): Promise<Projector> {
  const p = createProjector({
    topicPrefix: stack.topicPrefix,
    generation: GENERATION,
    partitions: PARTITIONS,
    brokers: stack.endpoints.kafkaBrokers,
    mongoUrl: stack.endpoints.mongoUrl,
    mongoDbName: stack.dbName,
    redisUrl: stack.endpoints.redisUrl,
    redisPrefix: stack.redisPrefix,
    sessionTimeoutMs: 10_000,
  });
  await p.start();
  afterAll(() => p.stop());
  return p;
}

export interface ChildProjector {
  child: ChildProcess;
  /** SIGTERM (graceful) and wait for the exit */
  stop(): Promise<void>;
}

/** The projector as its own process: `tsx consumers/projector.ts`, like production. */
export async function spawnProjector(stack: IsolatedStack): Promise<ChildProjector> {
  const root = path.resolve(import.meta.dirname, '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'consumers/projector.ts')], {
    cwd: root,
    env: {
      ...process.env,
      ...stackEnvVars(stack),
      THREADLOG_GENERATION: GENERATION,
      THREADLOG_PARTITIONS: String(PARTITIONS),
      THREADLOG_OPS_PORT: '0',
      THREADLOG_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    })());
  afterAll(stop);
  await waitFor(() => child.exitCode === null, { timeoutMs: 5_000, what: 'projector process running' }).catch(() => {
    throw new Error(`projector process exited: ${stderr}`);
  });
  return { child, stop };
}

let counter = 0;

/** A LangGraph-shaped checkpoint; channel versions bump with `step`. */
export function checkpoint(values: Record<string, unknown>, step = 1): Checkpoint {
  counter++;
  return {
    v: 4,
    id: uuid6(counter),
    ts: new Date().toISOString(),
    channel_values: values,
    channel_versions: Object.fromEntries(Object.keys(values).map((k) => [k, step])),
    versions_seen: {},
  } as Checkpoint;
}

/** everything an async iterable (a list or a stream) yields, in order */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
