/**
 * A real LangGraph StateGraph with deterministic nodes (no LLM), used by the demo, the
 * benchmarks and an integration test. It exercises what a checkpointer must get right:
 * - a message list that grows every step (append deltas),
 * - an agent → tool → agent loop,
 * - a human review via `interrupt()` and a resume with `Command`,
 * - a subgraph (its checkpoints live under a non-empty `checkpoint_ns`),
 * - time travel to an earlier checkpoint and a fork from it.
 */
import { Annotation, Command, END, START, StateGraph, interrupt } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';

export interface Message {
  role: 'user' | 'agent' | 'tool' | 'reviewer';
  content: string;
}

const State = Annotation.Root({
  messages: Annotation<Message[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  turn: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  toolCalls: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  approved: Annotation<boolean | undefined>({ reducer: (_a, b) => b, default: () => undefined }),
  summary: Annotation<string>({ reducer: (_a, b) => b, default: () => '' }),
});

/** The subgraph shares only `turn` and `summary` with the parent (last value wins). */
const SummaryState = Annotation.Root({
  turn: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  summary: Annotation<string>({ reducer: (_a, b) => b, default: () => '' }),
  drafts: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
});

type S = typeof State.State;

/** Pads a message to the requested size so the demo can model realistic state sizes. */
const pad = (text: string, bytes: number): string => (bytes > text.length ? text + ' ' + '.'.repeat(bytes - text.length - 1) : text);

export interface GraphOptions {
  /** tool calls per user turn before the agent answers */
  toolCallsPerTurn?: number;
  /** approximate bytes per message */
  messageBytes?: number;
  /** ask a human to approve every Nth turn (0: never) */
  reviewEvery?: number;
  /**
   * the agent node waits this long on average, as a model call would (0: it answers at once);
   * each call draws from ½× to 1½× of it, as model latencies vary: a fixed wait would keep every
   * agent of a fleet in lock-step, all waking in the same millisecond, which no real fleet does
   */
  thinkMs?: number;
}

function buildSummarizer() {
  return new StateGraph(SummaryState)
    .addNode('draft', () => ({ drafts: 1 }))
    .addNode('summarize', (s: typeof SummaryState.State) => ({ summary: `turn ${s.turn} summarized after ${s.drafts} draft(s)` }))
    .addEdge(START, 'draft')
    .addEdge('draft', 'summarize')
    .addEdge('summarize', END)
    .compile();
}

export function buildSupportAgent(checkpointer: BaseCheckpointSaver, options: GraphOptions = {}) {
  const toolCallsPerTurn = options.toolCallsPerTurn ?? 1;
  const messageBytes = options.messageBytes ?? 200;
  const reviewEvery = options.reviewEvery ?? 0;
  const thinkMs = options.thinkMs ?? 0;
  const summarizer = buildSummarizer();

  return new StateGraph(State)
    .addNode('agent', async (s: S) => {
      if (thinkMs > 0) await new Promise((r) => setTimeout(r, thinkMs * (0.5 + Math.random())));
      const last = s.messages[s.messages.length - 1];
      const calls = s.messages.filter((m) => m.role === 'tool').length;
      const wantsTool = last?.role === 'user' || (last?.role === 'tool' && calls % toolCallsPerTurn !== 0);
      const content = wantsTool ? `call lookup(${s.turn})` : `answer for turn ${s.turn}`;
      return { messages: [{ role: 'agent' as const, content: pad(content, messageBytes) }] };
    })
    .addNode('tool', (s: S) => ({
      messages: [{ role: 'tool' as const, content: pad(`lookup result ${s.turn}.${s.toolCalls}`, messageBytes) }],
      toolCalls: 1,
    }))
    .addNode('review', (s: S) => {
      // interrupt() pauses the run here; the value passed to Command({ resume }) comes back
      const decision = interrupt({ question: `approve answer for turn ${s.turn}?` }) as boolean;
      return { approved: decision, messages: [{ role: 'reviewer' as const, content: decision ? 'approved' : 'rejected' }] };
    })
    .addNode('summarizer', summarizer)
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', (s: S) => {
      const last = s.messages[s.messages.length - 1];
      if (last?.content.startsWith('call ')) return 'tool';
      return reviewEvery > 0 && s.turn % reviewEvery === 0 ? 'review' : 'summarizer';
    }, ['tool', 'review', 'summarizer'])
    .addEdge('tool', 'agent')
    .addEdge('review', 'summarizer')
    .addEdge('summarizer', END)
    .compile({ checkpointer });
}

export type SupportAgent = ReturnType<typeof buildSupportAgent>;

export function userTurn(turn: number, messageBytes = 200) {
  return { messages: [{ role: 'user' as const, content: pad(`question ${turn}`, messageBytes) }], turn };
}

export interface ScenarioResult {
  finalState: S;
  /** checkpoint ids newest first, as getStateHistory returns them */
  history: Array<{ checkpointId: string; next: string[]; step: number | undefined; messages: number }>;
  interruptedAt: string[];
  replayed: S;
  forked: S;
  subgraphCheckpoints: number;
}

/**
 * The scenario the integration test and the demo run: three turns, an interrupt with a
 * resume, time travel to an earlier checkpoint, and a fork from it into its own branch.
 */
export async function runScenario(checkpointer: BaseCheckpointSaver, threadId: string): Promise<ScenarioResult> {
  const graph = buildSupportAgent(checkpointer, { reviewEvery: 2 });
  const config = { configurable: { thread_id: threadId } };
  await graph.invoke(userTurn(1), config);
  await graph.invoke(userTurn(2), config);
  const paused = await graph.getState(config);
  const interruptedAt = [...paused.next];
  await graph.invoke(new Command({ resume: true }), config);
  await graph.invoke(userTurn(3), config);
  const finalState = (await graph.getState(config)).values as S;

  const history: ScenarioResult['history'] = [];
  for await (const snap of graph.getStateHistory(config)) {
    history.push({
      checkpointId: String(snap.config.configurable?.checkpoint_id),
      next: [...snap.next],
      step: snap.metadata?.step,
      messages: (snap.values as S).messages?.length ?? 0,
    });
  }

  // time travel: the checkpoint right after turn 1 finished (nothing left to run)
  const afterTurn1 = history.find((h) => h.next.length === 0 && h.messages > 0 && h.messages <= 6);
  if (!afterTurn1) throw new Error('scenario: no checkpoint after turn 1 in the history');
  const past = { configurable: { thread_id: threadId, checkpoint_id: afterTurn1.checkpointId } };
  const replayed = (await graph.getState(past)).values as S;
  // fork: new input from that point runs as a new branch of the same thread
  await graph.invoke({ messages: [{ role: 'user', content: 'forked question' }], turn: 5 }, past);
  const forked = (await graph.getState(config)).values as S;

  let subgraphCheckpoints = 0;
  for await (const t of checkpointer.list({ configurable: { thread_id: threadId } })) {
    if (t.config.configurable?.checkpoint_ns) subgraphCheckpoints += 1;
  }
  return { finalState, history, interruptedAt, replayed, forked, subgraphCheckpoints };
}
