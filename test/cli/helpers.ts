/** Shared by the CLI integration tests: the environment of the file's isolated stack, captured output, a small thread. */
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { parseEnv, type ThreadlogEnv } from '../../src/cli/env.ts';
import type { Output } from '../../src/cli/context.ts';
import type { CheckpointStore } from '../../src/store/types.ts';
import type { IsolatedStack } from '../support/isolation.ts';
import { checkpoint, GENERATION, PARTITIONS } from '../store/helpers.ts';
import { stackEnvVars } from '../support/stack-env.ts';

export function stackEnv(stack: IsolatedStack, extra: Record<string, string> = {}): ThreadlogEnv {
  return parseEnv({
    ...stackEnvVars(stack),
    THREADLOG_GENERATION: GENERATION,
    THREADLOG_PARTITIONS: String(PARTITIONS),
    ...extra,
  });
}

export interface Captured extends Output {
  stdout: string;
  stderr: string;
  json<T = unknown>(): T;
}

export function capture(): Captured {
  const c: Captured = {
    stdout: '',
    stderr: '',
    progress: false,
    out: (s) => void (c.stdout += s),
    err: (s) => void (c.stderr += s),
    json: <T>() => JSON.parse(c.stdout) as T,
  };
  return c;
}

/**
 * A thread of `steps` checkpoints, each the child of the previous, with a growing message
 * list and pending writes on every checkpoint; returns the checkpoints in order.
 */
export async function writeThread(store: CheckpointStore, threadId: string, steps: number, ns = ''): Promise<Checkpoint[]> {
  const out: Checkpoint[] = [];
  let parent: string | undefined;
  const messages: string[] = [];
  for (let step = 0; step < steps; step++) {
    messages.push(`message ${step}`);
    const cp = checkpoint({ messages: [...messages], count: step }, step + 1);
    await store.save({
      threadId,
      checkpointNs: ns,
      checkpoint: cp,
      metadata: { source: step === 0 ? 'input' : 'loop', step, parents: {} },
      newVersions: cp.channel_versions,
      ...(parent === undefined ? {} : { parentCheckpointId: parent }),
    });
    await store.putWrites({ threadId, checkpointNs: ns, checkpointId: cp.id, taskId: `task-${step}`, writes: [['messages', `reply ${step}`]] });
    parent = cp.id;
    out.push(cp);
  }
  return out;
}
