/**
 * The two workloads, identical for every saver.
 * - saver level: per step, the latest getTuple, a put of a LangGraph-shaped checkpoint whose
 *   message list grew by one message (newVersions = the channels that changed, versions from
 *   the saver's own getNextVersion, as the runtime does), then putWrites of two writes;
 *   afterwards list(thread, limit 10) per thread.
 * - graph fleet: N threads × T turns of the chat agent through graph.invoke.
 * Threads run concurrently (one async loop each); steps within a thread are sequential.
 */
import { uuid6, type BaseCheckpointSaver, type Checkpoint, type ChannelVersions } from '@langchain/langgraph-checkpoint';
import { buildChatAgent, pad, userTurn, type Message } from './graph.ts';
import { quantiles } from './stats.ts';
import type { CellResult, CellSpec } from './types.ts';

export interface WorkloadHooks {
  progress(done: number, total: number): void;
  /** called after each acknowledged put (threadlog samples projection lag here) */
  afterPut?(threadId: string, checkpointId: string): void;
  /** bytes workload: all threads finished `steps` steps; resolves when measuring is done */
  pause?(steps: number): Promise<void>;
}

type Timed = Pick<CellResult, 'seconds' | 'ops' | 'opsPerSec' | 'put' | 'putWrites' | 'getTuple' | 'list' | 'mismatches' | 'capped' | 'failedThreads'>;

const cfg = (threadId: string, checkpointId?: string) => ({
  configurable: checkpointId === undefined ? { thread_id: threadId, checkpoint_ns: '' } : { thread_id: threadId, checkpoint_ns: '', checkpoint_id: checkpointId },
});

interface Latencies {
  put: number[];
  putWrites: number[];
  getTuple: number[];
}

/** One saver-level step of one thread; returns false when the read did not show the last write. */
async function step(saver: BaseCheckpointSaver, threadId: string, n: number, messageBytes: number, lat: Latencies | undefined, hooks: WorkloadHooks): Promise<boolean> {
  let t = performance.now();
  const tuple = await saver.getTuple(cfg(threadId));
  lat?.getTuple.push(performance.now() - t);
  const prev = tuple?.checkpoint;
  const prevMessages = (prev?.channel_values.messages as Message[] | undefined) ?? [];
  const ok = prevMessages.length === n - 1 && (prev?.channel_values.step ?? 0) === n - 1;
  const message: Message = { role: n % 2 ? 'user' : 'agent', content: pad(`${threadId} step ${n}`, messageBytes) };
  const versions: ChannelVersions = { ...(prev?.channel_versions ?? {}) };
  const newVersions: ChannelVersions = {
    messages: saver.getNextVersion(versions.messages as number | undefined),
    step: saver.getNextVersion(versions.step as number | undefined),
  };
  const checkpoint: Checkpoint = {
    v: 4,
    id: uuid6(-1),
    ts: new Date().toISOString(),
    channel_values: { messages: [...prevMessages, message], step: n },
    channel_versions: { ...versions, ...newVersions },
    versions_seen: { agent: { messages: versions.messages ?? 0 } },
  };
  t = performance.now();
  const next = await saver.put(cfg(threadId, prev?.id), checkpoint, { source: 'loop', step: n, parents: {} }, newVersions);
  lat?.put.push(performance.now() - t);
  hooks.afterPut?.(threadId, checkpoint.id);
  t = performance.now();
  await saver.putWrites(next, [['messages', [message]], ['step', n]], `task-${threadId}-${n}`);
  lat?.putWrites.push(performance.now() - t);
  return ok;
}

const LIST_CALLS = 100;

/** threads that stopped on an error: how many, and the distinct messages */
const failed = (failures: string[]): Pick<CellResult, 'failedThreads'> =>
  failures.length === 0 ? {} : { failedThreads: { count: failures.length, messages: [...new Set(failures)].slice(0, 3) } };

async function drain<T>(it: AsyncIterable<T>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

/** a few untimed steps on other threads: JIT, connection pools, prepared statements */
async function warmUp(saver: BaseCheckpointSaver, prefix: string, messageBytes: number): Promise<void> {
  const hooks: WorkloadHooks = { progress: () => undefined };
  await Promise.all(
    Array.from({ length: 4 }, async (_, i) => {
      for (let n = 1; n <= 3; n++) await step(saver, `${prefix}warm-${i}`, n, messageBytes, undefined, hooks);
      await drain(saver.list(cfg(`${prefix}warm-${i}`), { limit: 10 }));
    }),
  );
}

export function threadIds(spec: CellSpec, prefix: string): string[] {
  return Array.from({ length: spec.threads }, (_, i) => `${prefix}t${i}`);
}

export async function saverLevel(saver: BaseCheckpointSaver, spec: CellSpec, prefix: string, hooks: WorkloadHooks): Promise<Timed> {
  await warmUp(saver, prefix, spec.messageBytes);
  const ids = threadIds(spec, prefix);
  const deadline = performance.now() + spec.capSeconds * 1000;
  const lat: Latencies = { put: [], putWrites: [], getTuple: [] };
  const stepsOf = new Map<string, number>();
  const failures: string[] = [];
  const total = spec.threads * spec.steps;
  let done = 0;
  let mismatches = 0;
  const start = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      try {
        for (let n = 1; n <= spec.steps && performance.now() < deadline; n++) {
          if (!(await step(saver, id, n, spec.messageBytes, lat, hooks))) mismatches++;
          hooks.progress(++done, total);
          stepsOf.set(id, n);
        }
      } catch (e) {
        // the thread stops, as a graph run would; the cell goes on and reports it
        failures.push(e instanceof Error ? e.message : String(e));
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  // list of one thread's newest 10: LIST_CALLS calls spread over the threads, up to 32 at once
  const lists: number[] = [];
  let next = 0;
  await Promise.all(
    ids.slice(0, 32).map(async () => {
      // the list phase gets a third of the cap on top of it
      const listDeadline = deadline + (spec.capSeconds * 1000) / 3;
      while (next < LIST_CALLS && (next < 10 || performance.now() < listDeadline)) {
        const id = ids[next++ % ids.length]!;
        const t = performance.now();
        try {
          const n = await drain(saver.list(cfg(id), { limit: 10 }));
          lists.push(performance.now() - t);
          if (n !== Math.min(10, stepsOf.get(id) ?? 0)) mismatches++;
        } catch (e) {
          // a list that fails (e.g. waiting for the projection timed out) is reported, and this lane stops
          failures.push(`list: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
      }
    }),
  );
  return {
    seconds,
    ops: done,
    opsPerSec: done / seconds,
    capped: done < total,
    ...failed(failures),
    put: quantiles(lat.put),
    putWrites: quantiles(lat.putWrites),
    getTuple: quantiles(lat.getTuple),
    list: quantiles(lists),
    mismatches,
  };
}

/** The saver-level step loop, untimed, pausing at spec.pauseAt so storage can be measured. */
export async function bytesPerStep(saver: BaseCheckpointSaver, spec: CellSpec, prefix: string, hooks: WorkloadHooks): Promise<Timed> {
  const ids = threadIds(spec, prefix);
  const total = spec.threads * spec.steps;
  let done = 0;
  let mismatches = 0;
  const start = performance.now();
  let from = 1;
  for (const until of [...spec.pauseAt].sort((a, b) => a - b)) {
    await Promise.all(
      ids.map(async (id) => {
        for (let n = from; n <= until; n++) {
          if (!(await step(saver, id, n, spec.messageBytes, undefined, hooks))) mismatches++;
          hooks.progress(++done, total);
        }
      }),
    );
    from = until + 1;
    await hooks.pause?.(until);
  }
  const seconds = (performance.now() - start) / 1000;
  return { seconds, ops: done, opsPerSec: done / seconds, mismatches };
}

export async function graphFleet(saver: BaseCheckpointSaver, spec: CellSpec, prefix: string, hooks: WorkloadHooks): Promise<Timed> {
  const graph = buildChatAgent(saver, spec.messageBytes);
  // warm-up on other threads
  await Promise.all(Array.from({ length: 4 }, (_, i) => graph.invoke(userTurn(1, spec.messageBytes), cfg(`${prefix}warm-${i}`))));
  const ids = threadIds(spec, prefix);
  const total = spec.threads * spec.steps;
  let done = 0;
  let mismatches = 0;
  const start = performance.now();
  const deadline = start + spec.capSeconds * 1000;
  const failures: string[] = [];
  await Promise.all(
    ids.map(async (id) => {
      try {
        for (let turn = 1; turn <= spec.steps && performance.now() < deadline; turn++) {
          const out = await graph.invoke(userTurn(turn, spec.messageBytes), cfg(id));
          if (out.messages.length !== turn * 4) mismatches++;
          hooks.progress(++done, total);
        }
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { seconds, ops: done, opsPerSec: done / seconds, mismatches, capped: done < total, ...failed(failures) };
}
