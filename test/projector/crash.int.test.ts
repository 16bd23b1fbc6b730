/**
 * Crash safety with real processes: projector processes (consumers/projector.ts) are killed
 * with SIGKILL again and again while the log is being written (chunked events included),
 * restarted, and finally two of them share the group until they are caught up. The result
 * must equal, document by document, a projection built from scratch from the same log.
 *
 * Size: CRASH_TEST_EVENTS, default 6,000 so the file stays within ~3 minutes on a 2-core
 * machine. The full size is 50,000:
 *   CRASH_TEST_EVENTS=50000 npx vitest run test/projector/crash.int.test.ts
 * (its waits and timeout grow with the size; expect tens of minutes on FerretDB 1.24).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Db } from 'mongodb';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { createWorkload } from '../../bench/workload.ts';
import { committedOffsets, dumpGeneration, embeddedProjector, endOffsets, expectSameGeneration, logWriter, makeTopics, waitCaughtUp } from './helpers.ts';
import { stackEnvVars } from '../support/stack-env.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');
const PARTITIONS = 6;
const EVENTS = Number(process.env.CRASH_TEST_EVENTS ?? 6_000);
const THREADS = 100;
// waits and the test's own timeout grow with the size, so the full size is not cut short
const CATCH_UP_MS = Math.max(150_000, EVENTS * 12);
const workload = createWorkload({ threads: THREADS, steps: Math.ceil(EVENTS / (THREADS * 1.25)), messageChars: 120, bigEvery: 400, threadPrefix: 'c' });
const children = new Set<ChildProcess>();
/** the projectors' last log lines, shown when the test fails */
let stderrTail = '';
let started = 0;
let topic: string;
let db: Db;

function startChild(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'consumers/projector.ts')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...stackEnvVars(stack),
      THREADLOG_PARTITIONS: String(PARTITIONS),
      THREADLOG_GENERATION: 'crash',
      THREADLOG_OPS_PORT: '0',
      THREADLOG_LOG_LEVEL: process.env.CRASH_TEST_LOG_LEVEL ?? 'info',
    },
  });
  // Drained always (pino logs to stdout): an unread pipe fills at 64 KiB and the projector's
  // next (synchronous) log write then blocks it for good.
  const n = ++started;
  const drain = (b: Buffer): void => {
    stderrTail = (stderrTail + b.toString().replace(/^(?=.)/gm, `[${n}] `)).slice(-30_000);
  };
  child.stdout!.on('data', drain);
  child.stderr!.on('data', drain);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

beforeAll(async () => {
  topic = await makeTopics(stack, PARTITIONS);
  db = (await stack.mongo()).db(stack.dbName);
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map(exited));
});

describe('projector processes', () => {
  it('survive repeated kill -9 during a load, and two of them end equal to a projection built from scratch', async () => {
    const writer = logWriter(stack, workload.codec, PARTITIONS);
    let written = 0;
    const load = (async () => {
      for await (const events of workload.all()) {
        await writer.write(events);
        written += events.length;
      }
    })();
    let current = startChild();
    let kills = 0;
    while (kills < 5) {
      // let it project something, then kill it mid-batch, without a chance to commit
      await new Promise((r) => setTimeout(r, 1_000 + Math.random() * 1_000));
      current.kill('SIGKILL');
      await exited(current);
      kills += 1;
      current = startChild();
    }
    await load;
    await writer.close();
    expect(written).toBeGreaterThanOrEqual(EVENTS * 0.9);
    const second = startChild();
    await waitCaughtUp(stack, stack.redisPrefix, topic, CATCH_UP_MS).catch(async (e: unknown) => {
      const [ends, committed] = await Promise.all([endOffsets(stack, topic), committedOffsets(stack, `${stack.topicPrefix}.projector.crash`, topic)]);
      throw new Error(`${String(e)}; end offsets ${JSON.stringify([...ends])}, committed ${JSON.stringify([...committed])}; the projectors' last log lines:\n${stderrTail}`);
    });

    // graceful stop: both exit 0 and leave their committed offsets at the end offsets
    current.kill('SIGTERM');
    second.kill('SIGTERM');
    expect(await Promise.all([exited(current), exited(second)])).toEqual([0, 0]);
    const ends = await endOffsets(stack, topic);
    expect(await committedOffsets(stack, `${stack.topicPrefix}.projector.crash`, topic)).toEqual(ends);

    // the same log into a fresh generation, no Redis, one uninterrupted embedded projector
    const scratch = embeddedProjector(stack, { generation: 'scratch', redisUrl: undefined, partitions: PARTITIONS });
    await scratch.start();
    await waitFor(async () => {
      const committed = await committedOffsets(stack, scratch.groupId, topic);
      return [...ends].every(([p, end]) => committed.get(p) === end);
    }, { timeoutMs: CATCH_UP_MS, intervalMs: 500, what: 'the scratch projection to reach the end offsets' }).catch(async (e: unknown) => {
      const committed = await committedOffsets(stack, scratch.groupId, topic);
      throw new Error(`${String(e)}; ends ${JSON.stringify([...ends])}, committed ${JSON.stringify([...committed])}, lag ${JSON.stringify([...scratch.lag()])}, not ready: ${scratch.ready().join('; ')}, health: ${scratch.health().join('; ')}`);
    });
    await scratch.stop();
    const [crashed, fresh] = await Promise.all([dumpGeneration(db, 'crash'), dumpGeneration(db, 'scratch')]);
    expect(crashed.checkpoints!.length).toBe(THREADS * workload.stepsPerThread);
    expectSameGeneration(crashed, fresh);
  }, 120_000 + 2 * CATCH_UP_MS);
});
