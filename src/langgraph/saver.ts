/**
 * ThreadlogSaver: LangGraph's BaseCheckpointSaver on top of a CheckpointStore, so a graph
 * swaps MemorySaver / MongoDBSaver / PostgresSaver for ours with one line. Writes become
 * events on the log; reads come from the cached projection with read-your-writes, which is
 * what LangGraph assumes (it reads right after it writes).
 */
import { randomBytes } from 'node:crypto';
import type { RunnableConfig } from '@langchain/core/runnables';
import {
  BaseCheckpointSaver,
  TASKS,
  maxChannelVersion,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../errors.ts';
import type { CheckpointStore, Consistency, MetadataFilter, StoredCheckpoint } from '../store/types.ts';

// randomBytes per version was a syscall per channel per step: the suffixes are cut from a pool
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomHex16(): string {
  if (poolAt + 8 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 8;
  return pool.toString('hex', poolAt - 8, poolAt);
}

export interface ThreadlogSaverOptions {
  store: CheckpointStore;
  /** close the store when the saver is closed (true when the saver created it) */
  ownsStore?: boolean;
  /** consistency of the saver's reads; LangGraph needs at least read-your-writes */
  consistency?: Consistency;
  serde?: SerializerProtocol;
}

export class ThreadlogSaver extends BaseCheckpointSaver {
  readonly store: CheckpointStore;
  private readonly ownsStore: boolean;
  private readonly consistency: Consistency;
  private closed: Promise<void> | undefined;

  constructor(options: ThreadlogSaverOptions) {
    super(options.serde);
    this.store = options.store;
    this.ownsStore = options.ownsStore ?? false;
    this.consistency = options.consistency ?? 'session';
  }

  /**
   * Channel values are stored once per (thread, ns, channel, version). LangGraph's default
   * integer versions repeat across branches — a fork from an old checkpoint counts up again
   * from there — so two branches would share one blob key. A random suffix (PostgresSaver
   * does the same) keeps versions unique and still ordered by their numeric prefix.
   * Typed as number because LangGraph's graph APIs take BaseCheckpointSaver<number>; the
   * runtime treats versions as opaque `string | number` (compareChannelVersions handles both).
   */
  override getNextVersion(current: number | undefined): number {
    const c = current as number | string | undefined;
    const n = c === undefined ? 0 : typeof c === 'number' ? c : Number.parseInt(c.split('.')[0] ?? '0', 10);
    return `${String(n + 1).padStart(32, '0')}.${randomHex16()}` as unknown as number;
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    // LangGraph's contract: no thread, no tuple (a malformed one is still an error)
    if (config.configurable?.thread_id === undefined) return undefined;
    const { threadId, checkpointNs, checkpointId } = refOf(config, 'getTuple');
    const stored = await this.store.load({ threadId, checkpointNs, checkpointId }, { consistency: this.consistency });
    return stored === undefined ? undefined : this.toTuple(stored);
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const c = config.configurable ?? {};
    const threadId = optionalString(c.thread_id, 'thread_id');
    const checkpointNs = optionalString(c.checkpoint_ns, 'checkpoint_ns');
    const checkpointId = optionalString(c.checkpoint_id, 'checkpoint_id');
    const before = optionalString(options.before?.configurable?.checkpoint_id, 'before.checkpoint_id');
    if (checkpointId !== undefined && threadId !== undefined) {
      // a list narrowed to one checkpoint is a getTuple that honours before/filter
      const one = await this.store.load({ threadId, checkpointNs: checkpointNs ?? '', checkpointId }, { consistency: this.consistency });
      if (one && (before === undefined || one.checkpointId < before) && matches(one.metadata, options.filter)) {
        yield await this.toTuple(one);
      }
      return;
    }
    for await (const stored of this.store.list({
      threadId,
      checkpointNs,
      before,
      limit: options.limit,
      filter: options.filter as MetadataFilter | undefined,
      consistency: this.consistency,
    })) {
      yield await this.toTuple(stored);
    }
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const c = config.configurable ?? {};
    const threadId = requiredString(c.thread_id, 'thread_id', 'put');
    const checkpointNs = optionalString(c.checkpoint_ns, 'checkpoint_ns') ?? '';
    const parentCheckpointId = optionalString(c.checkpoint_id, 'checkpoint_id');
    await this.store.save({ threadId, checkpointNs, checkpoint, metadata, newVersions, parentCheckpointId });
    return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpoint.id } };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const c = config.configurable ?? {};
    const threadId = requiredString(c.thread_id, 'thread_id', 'putWrites');
    const checkpointId = requiredString(c.checkpoint_id, 'checkpoint_id', 'putWrites');
    const checkpointNs = optionalString(c.checkpoint_ns, 'checkpoint_ns') ?? '';
    await this.store.putWrites({ threadId, checkpointNs, checkpointId, taskId, taskPath, writes });
  }

  async deleteThread(threadId: string): Promise<void> {
    await this.store.deleteThread(threadId);
  }

  /** Closes the store if this saver created it; idempotent. */
  close(): Promise<void> {
    this.closed ??= this.ownsStore ? this.store.close() : Promise.resolve();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async toTuple(stored: StoredCheckpoint): Promise<CheckpointTuple> {
    const { threadId, checkpointNs, checkpointId, parentCheckpointId } = stored;
    const checkpoint = stored.checkpoint;
    if (checkpoint.v < 4 && parentCheckpointId !== undefined) {
      await this.migratePendingSends(checkpoint, threadId, checkpointNs, parentCheckpointId);
    }
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpointId } },
      checkpoint,
      metadata: stored.metadata,
      pendingWrites: stored.pendingWrites.map((w) => [w.taskId, w.channel, w.value]),
    };
    if (parentCheckpointId !== undefined) {
      tuple.parentConfig = {
        configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: parentCheckpointId },
      };
    }
    return tuple;
  }

  /**
   * Checkpoints of format < 4 kept pending sends as writes to TASKS on the parent; newer
   * LangGraph expects them as a channel value. Same migration as LangGraph's own savers.
   */
  private async migratePendingSends(checkpoint: Checkpoint, threadId: string, checkpointNs: string, parentId: string): Promise<void> {
    const parent = await this.store.load({ threadId, checkpointNs, checkpointId: parentId }, { consistency: this.consistency });
    const sends = (parent?.pendingWrites ?? []).filter((w) => w.channel === TASKS).map((w) => w.value);
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = sends;
    checkpoint.channel_versions ??= {};
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }
}

function refOf(config: RunnableConfig, op: string): { threadId: string; checkpointNs: string; checkpointId: string | undefined } {
  const c = config.configurable ?? {};
  return {
    threadId: requiredString(c.thread_id, 'thread_id', op),
    checkpointNs: optionalString(c.checkpoint_ns, 'checkpoint_ns') ?? '',
    checkpointId: optionalString(c.checkpoint_id, 'checkpoint_id'),
  };
}

function requiredString(v: unknown, field: string, op: string): string {
  if (typeof v === 'string' && v !== '') return v;
  const code = field === 'thread_id' ? 'invalid-thread-id' : 'invalid-checkpoint-id';
  throw new ThreadlogError(
    code,
    `${op}: config.configurable.${field} is ${v === undefined ? 'missing' : 'not a non-empty string'}; ` +
      `pass it as graph.invoke(input, { configurable: { thread_id: "..." } })`,
  );
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  const code = field === 'thread_id' ? 'invalid-thread-id' : field === 'checkpoint_ns' ? 'invalid-checkpoint-ns' : 'invalid-checkpoint-id';
  throw new ThreadlogError(code, `config.configurable.${field} must be a string`);
}

function matches(metadata: CheckpointMetadata, filter: Record<string, unknown> | undefined): boolean {
  if (!filter) return true;
  const m = metadata as Record<string, unknown>;
  return Object.entries(filter).every(([k, v]) => m[k] === v);
}
