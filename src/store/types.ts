/**
 * The public SDK surface: `createCheckpointStore()` returns a CheckpointStore. Shapes that
 * LangGraph users see keep LangGraph's own names (`channel_values`, `channel_versions`).
 */
import type { Checkpoint, CheckpointMetadata } from '@langchain/langgraph-checkpoint';
import type { ChannelVersion, LogPosition, Receipt } from '../events/types.ts';

/**
 * - `eventual`: whatever is projected now;
 * - `session` (default): read-your-writes for everything this store saved, and for every
 *   receipt passed as `after`. This store's own saves and writes are answered from what it
 *   wrote (write-through), before and after the projector applied them; what other processes
 *   wrote is shown as far as it is projected — a newer head of theirs included, within
 *   `headCheckMs` (1 s) of being projected for a thread this store wrote — except their
 *   pending writes on this store's own checkpoints and their re-puts of its checkpoint ids,
 *   which session reads of those checkpoints do not see (`strong`, `eventual` or `after`
 *   their receipts do);
 * - `strong`: wait until the projection caught up with the end of the thread's partition.
 * Waiting is bounded; a timeout throws ThreadlogError 'stale-read', never a stale answer.
 */
export type Consistency = 'eventual' | 'session' | 'strong';

export interface ReadOptions {
  consistency?: Consistency;
  /** receipts (from this or another process) the read must reflect */
  after?: Receipt | Receipt[];
  /** bound on waiting for the projection; default from the store options */
  timeoutMs?: number;
}

export interface SaveInput {
  threadId: string;
  /** default "" (the root graph) */
  checkpointNs?: string;
  /** the full LangGraph checkpoint, channel values included */
  checkpoint: Checkpoint;
  metadata?: CheckpointMetadata;
  /**
   * channels whose versions are new in this save (LangGraph's `newVersions`); only their
   * values are written. Default: every channel in `checkpoint.channel_values`.
   */
  newVersions?: Record<string, ChannelVersion>;
  parentCheckpointId?: string;
}

export interface PutWritesInput {
  threadId: string;
  checkpointNs?: string;
  checkpointId: string;
  taskId: string;
  taskPath?: string;
  /** [channel, value] pairs, as LangGraph's PendingWrite */
  writes: Array<[string, unknown]>;
}

export interface CheckpointRef {
  threadId: string;
  checkpointNs?: string;
  /** omitted: the latest checkpoint of the thread and namespace */
  checkpointId?: string;
}

export interface StoredPendingWrite {
  taskId: string;
  channel: string;
  value: unknown;
}

export interface StoredCheckpoint {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | undefined;
  /** channel values re-assembled from the stored channel versions */
  checkpoint: Checkpoint;
  metadata: CheckpointMetadata;
  /** pending writes of this checkpoint, in LangGraph's (task path, task id, idx) order */
  pendingWrites: StoredPendingWrite[];
  position: LogPosition;
}

/** Only primitive equality on plain keys: no operators, no dotted paths, no objects. */
export type MetadataFilter = Record<string, string | number | boolean | null>;

export interface ListOptions extends ReadOptions {
  /** omitted: across threads (a scan on FerretDB; indexed on MongoDB) */
  threadId?: string;
  /** omitted: every namespace */
  checkpointNs?: string;
  /** only checkpoints older than this checkpoint id */
  before?: string;
  limit?: number;
  filter?: MetadataFilter;
}

export type CacheLevel = 'l1' | 'l2' | 'l3';

export interface StoreStats {
  hits: Record<CacheLevel, number>;
  misses: Record<CacheLevel, number>;
  l1Bytes: number;
  l1Entries: number;
  saves: number;
  redisDegraded: boolean;
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface HealthReport {
  status: HealthStatus;
  reasons: string[];
  services: Record<'kafka' | 'mongodb' | 'redis', { ok: boolean; latencyMs: number; error?: string }>;
  /** per partition: log end offset minus the projector's watermark */
  lag: Record<number, number>;
  stats: StoreStats;
}

export interface CheckpointStore {
  save(input: SaveInput): Promise<Receipt>;
  saveBatch(inputs: SaveInput[]): Promise<Receipt[]>;
  putWrites(input: PutWritesInput): Promise<Receipt>;
  load(ref: CheckpointRef, options?: ReadOptions): Promise<StoredCheckpoint | undefined>;
  /** newest first */
  list(options: ListOptions): AsyncGenerator<StoredCheckpoint>;
  /** a thread's timeline, oldest first, paged underneath, bounded memory */
  stream(threadId: string, options?: { checkpointNs?: string; pageSize?: number } & ReadOptions): AsyncGenerator<StoredCheckpoint>;
  /** warms L1 and L2 with the n most recent checkpoints; returns how many were loaded */
  preload(threadId: string, n: number, options?: { checkpointNs?: string }): Promise<number>;
  deleteThread(threadId: string): Promise<Receipt>;
  /**
   * Crypto-shredding (docs/security.md): destroys the thread's data key, appends a
   * `thread-erased` event, drops the thread from Redis and from every store's L1, and waits
   * (bounded) for the projection to remove it. From the first step on, reads of the thread
   * answer not found; it takes no new events. Idempotent: a rerun finishes an interrupted one.
   * Needs encryption (`encryption` option), else 'encryption-disabled'; a layout 1 projection
   * refuses ('unsupported-layout').
   */
  eraseThread(threadId: string, options?: { timeoutMs?: number }): Promise<EraseResult>;
  health(): Promise<HealthReport>;
  stats(): StoreStats;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface EraseResult {
  threadId: string;
  /** when the key was destroyed (the first erasure's time, on a rerun) */
  erasedAt: number;
  /** the thread-erased event */
  position: LogPosition;
  /** the thread had no key: nothing of it was ever encrypted (its events, if any, are plaintext in the log) */
  hadNoKey: boolean;
  /** it was erased before (this call finished or repeated that erasure) */
  alreadyErased: boolean;
  /** the projection removed it within the timeout (false: it will, once a projector applies the event) */
  projected: boolean;
}
