/**
 * LangGraph's own conformance suite (@langchain/langgraph-checkpoint-validation) against
 * ThreadlogSaver on the real stack. The checkpointer name is ours, so none of the suite's
 * per-saver skips apply. Each checkpointer the suite creates has its own topics, database
 * and Redis keys, and an embedded projector.
 */
import { afterAll } from 'vitest';
import { deltaChannelHistoryTests, validate } from '@langchain/langgraph-checkpoint-validation';
import { useIsolatedStack } from '../support/isolation.ts';
import { saverFactory } from './saver-factory.ts';

const stack = useIsolatedStack();
const savers = saverFactory(stack);
afterAll(() => savers.dropDatabases());

const initializer = {
  checkpointerName: 'threadlog',
  beforeAllTimeout: 120_000,
  createCheckpointer: () => savers.create(),
  destroyCheckpointer: (saver: Awaited<ReturnType<typeof savers.create>>) => savers.destroy(saver),
};

validate(initializer);
// opt-in in the suite (not part of validate): the walk that rebuilds DeltaChannel state
deltaChannelHistoryTests(initializer);
