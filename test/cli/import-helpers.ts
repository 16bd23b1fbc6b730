/** Shared by the import and rebuild tests: a small real graph, an env for the CLI, tuple comparison. */
import { Annotation, StateGraph, START, END } from '@langchain/langgraph';
import type { BaseCheckpointSaver, CheckpointTuple } from '@langchain/langgraph-checkpoint';
import { expect } from 'vitest';
import { parseEnv, type ThreadlogEnv } from '../../src/cli/env.ts';
import type { IsolatedStack } from '../support/isolation.ts';
import { stackEnvVars } from '../support/stack-env.ts';

export const PARTITIONS = 3;

/** The CLI's environment pointed at the test file's topics, database and Redis prefix. */
export function stackEnv(stack: IsolatedStack, extra: Record<string, string> = {}): ThreadlogEnv {
  return parseEnv({
    ...stackEnvVars(stack),
    THREADLOG_PARTITIONS: String(PARTITIONS),
    ...extra,
  });
}

const State = Annotation.Root({
  messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  notes: Annotation<Record<string, number>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
});

/** Two parallel tasks then a join: every step leaves pending writes of two tasks. */
export function buildGraph(saver: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode('plan', (s) => ({ messages: [`plan ${s.messages.length}`] }))
    .addNode('search', (s) => ({ messages: [`search ${s.messages.length}`], notes: { search: s.messages.length } }))
    .addNode('answer', (s) => ({ messages: [`answer ${'x'.repeat(50)} ${s.messages.length}`] }))
    .addEdge(START, 'plan')
    .addEdge(START, 'search')
    .addEdge('plan', 'answer')
    .addEdge('search', 'answer')
    .addEdge('answer', END)
    .compile({ checkpointer: saver });
}

export async function runThreads(saver: BaseCheckpointSaver, threads: string[], turns: number): Promise<void> {
  const graph = buildGraph(saver);
  await Promise.all(
    threads.map(async (thread_id) => {
      for (let i = 0; i < turns; i++) await graph.invoke({ messages: [`user ${i}`] }, { configurable: { thread_id } });
    }),
  );
}

export async function tuplesOf(saver: BaseCheckpointSaver, thread_id: string): Promise<CheckpointTuple[]> {
  const out: CheckpointTuple[] = [];
  for await (const t of saver.list({ configurable: { thread_id } })) out.push(t);
  return out;
}

/**
 * What must survive an import: config, checkpoint, metadata, parentConfig, pending writes
 * (as a set: savers differ in their order). A channel value without a channel version
 * (MongoDBSaver and SqliteSaver keep LangGraph's empty `__pregel_tasks: []` verbatim) has no
 * place in a log that stores values per version; PostgresSaver drops it the same way.
 */
function comparable(t: CheckpointTuple): unknown {
  const versions = t.checkpoint.channel_versions ?? {};
  const values = Object.fromEntries(Object.entries(t.checkpoint.channel_values ?? {}).filter(([c]) => c in versions));
  const writes = [...(t.pendingWrites ?? [])].map(([task, channel, value]) => JSON.stringify([task, channel, value])).sort();
  return {
    config: { thread_id: t.config.configurable?.thread_id, checkpoint_ns: t.config.configurable?.checkpoint_ns ?? '', checkpoint_id: t.config.configurable?.checkpoint_id },
    checkpoint: JSON.parse(JSON.stringify({ ...t.checkpoint, channel_values: values })),
    metadata: JSON.parse(JSON.stringify(t.metadata)),
    parentConfig: t.parentConfig?.configurable?.checkpoint_id,
    writes,
  };
}

export async function expectSameTuples(source: BaseCheckpointSaver, target: BaseCheckpointSaver, threads: string[]): Promise<number> {
  let n = 0;
  for (const thread of threads) {
    const a = await tuplesOf(source, thread);
    const b = await tuplesOf(target, thread);
    expect(b.map(comparable)).toEqual(a.map(comparable));
    const ga = await source.getTuple({ configurable: { thread_id: thread } });
    const gb = await target.getTuple({ configurable: { thread_id: thread } });
    expect(gb && comparable(gb)).toEqual(ga && comparable(ga));
    n += a.length;
  }
  return n;
}
