/**
 * The graph-fleet agent: a real StateGraph run by the LangGraph runtime, deterministic (no
 * LLM). Each turn: one user message in, agent → tool → agent, four messages appended to a
 * growing list. Same shape as examples/support-agent.ts without its review and summarizer
 * branches, so the checkpointer is the only thing that differs between savers.
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';

export interface Message {
  role: 'user' | 'agent' | 'tool';
  content: string;
}

const State = Annotation.Root({
  messages: Annotation<Message[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  turn: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
});
type S = typeof State.State;

/** `text` padded with dots to exactly `bytes` characters (ASCII, so bytes) */
export const pad = (text: string, bytes: number): string => (bytes > text.length ? text + ' ' + '.'.repeat(bytes - text.length - 1) : text);

export function buildChatAgent(checkpointer: BaseCheckpointSaver, messageBytes: number) {
  return new StateGraph(State)
    .addNode('agent', (s: S) => {
      const last = s.messages[s.messages.length - 1];
      const content = last?.role === 'user' ? `call lookup(${s.turn})` : `answer for turn ${s.turn}`;
      return { messages: [{ role: 'agent' as const, content: pad(content, messageBytes) }] };
    })
    .addNode('tool', (s: S) => ({ messages: [{ role: 'tool' as const, content: pad(`lookup result ${s.turn}`, messageBytes) }] }))
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', (s: S) => (s.messages[s.messages.length - 1]?.content.startsWith('call ') ? 'tool' : END), ['tool', END])
    .addEdge('tool', 'agent')
    .compile({ checkpointer });
}

export function userTurn(turn: number, messageBytes: number): { messages: Message[]; turn: number } {
  return { messages: [{ role: 'user', content: pad(`question ${turn}`, messageBytes) }], turn };
}
