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

const words = (
  'the a to of and in is for that you it on with as this be are can if we will by from or tool call result search ' +
  'weather forecast user assistant message function arguments query answer summary document page section table value ' +
  'error retry latency token model agent order refund invoice account customer shipping delivery address payment card ' +
  'please thanks sure here is what found about your question yesterday today tomorrow city price plan upgrade support'
).split(' ');

/**
 * `text` followed by deterministic pseudo-random words up to exactly `bytes` characters (ASCII).
 * Not a repeated character: stores that compress (PostgreSQL's TOAST, our zstd) must see text
 * that compresses like chat text does, not 400 dots.
 */
export function pad(text: string, bytes: number): string {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  let out = text;
  while (out.length < bytes) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out += ' ' + words[(seed >>> 8) % words.length]!;
  }
  return out.slice(0, bytes);
}

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
