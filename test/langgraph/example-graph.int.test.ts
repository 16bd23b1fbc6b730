/**
 * The example StateGraph (tool loop, interrupt/resume, subgraph, time travel, fork) runs on
 * ThreadlogSaver and gives the same final state and the same history as on MemorySaver.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySaver } from '@langchain/langgraph';
import { runScenario, type ScenarioResult } from '../../examples/support-agent.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { saverFactory } from './saver-factory.ts';

const stack = useIsolatedStack();
const savers = saverFactory(stack);
afterAll(() => savers.dropDatabases());

/** Checkpoint ids are time-based and differ between runs; everything else must match. */
const comparable = (r: ScenarioResult) => ({
  finalState: r.finalState,
  history: r.history.map(({ next, step, messages }) => ({ next, step, messages })),
  interruptedAt: r.interruptedAt,
  replayed: r.replayed,
  forked: r.forked,
  subgraphCheckpoints: r.subgraphCheckpoints,
});

describe('example graph on ThreadlogSaver', () => {
  it('matches MemorySaver: final state, history, interrupt, time travel, fork, subgraph', async () => {
    const expected = await runScenario(new MemorySaver(), 'support-1');
    const saver = await savers.create();
    try {
      const actual = await runScenario(saver, 'support-1');
      expect(comparable(actual)).toEqual(comparable(expected));
      // the scenario is not trivial: it paused for review, resumed, and wrote subgraph checkpoints
      expect(actual.interruptedAt).toEqual(['review']);
      expect(actual.finalState.approved).toBe(true);
      expect(actual.subgraphCheckpoints).toBeGreaterThan(0);
      expect(actual.forked.messages.at(-1)?.content).toMatch(/^answer for turn 5/);
      expect(actual.history.length).toBeGreaterThan(15);
    } finally {
      await savers.destroy(saver);
    }
  });
});
