/**
 * Import from another LangGraph saver: per thread, its tuples (read with the source saver's
 * own list()) oldest first become checkpoint and writes events on the log.
 *
 * - Idempotent: event ids are derived from (source, thread, ns, checkpoint id[, task]); a
 *   thread is marked `started` before its first append and `done` after the log acknowledged
 *   all of it. Done threads are skipped; a started one (an interrupted run) is compared with
 *   the projection first — after waiting until it reflects the log — and only what is missing
 *   is appended. A thread never marked is untouched by this source.
 * - Channel values: only versions new against the parent (LangGraph's newVersions), so the
 *   projection stores each (channel, version) once, as for a live save.
 * - Verification: after the appends, every imported thread is read back through the store
 *   (strong: the projection caught up) and its checkpoint and pending-write counts compared
 *   with the source's.
 */
import { createHash } from 'node:crypto';
import { WRITES_IDX_MAP, type CheckpointTuple } from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../../errors.ts';
import type { EventCodec } from '../../events/codec.ts';
import type { DeltaEncoder, DeltaTicket } from '../../events/deltas.ts';
import type { ChannelValue, CheckpointEvent, CheckpointHeader, Receipt, WritesEvent } from '../../events/types.ts';
import type { Appender } from '../../kafka/appender.ts';
import type { MetaStore } from '../../mongo/meta.ts';
import type { CheckpointStore } from '../../store/types.ts';
import type { Source } from './sources.ts';

export interface ImportOptions {
  source: Source;
  codec: EventCodec;
  deltas: DeltaEncoder;
  appender: Appender;
  /** reads the serving projection: resume checks and the final verification */
  store: CheckpointStore;
  meta: MetaStore;
  /** only these threads (default: every thread of the source) */
  threads?: string[];
  dryRun: boolean;
  /** threads imported at once */
  concurrency: number;
  /** bound on waiting for the projection (resume checks, verification) */
  readTimeoutMs: number;
  verify: boolean;
  onStart?(totalThreads: number): void;
  onThread?(done: number, counts: ImportCounts): void;
}

export const defaultImportOptions = { dryRun: false, concurrency: 4, readTimeoutMs: 60_000, verify: true } satisfies Partial<ImportOptions>;

export interface ImportCounts {
  threads: number;
  /** in the source (selected threads) */
  sourceCheckpoints: number;
  sourceWrites: number;
  /** appended by this run */
  appendedCheckpoints: number;
  appendedWrites: number;
  /** found imported already (done threads, or present in the projection) */
  skippedCheckpoints: number;
  skippedWrites: number;
  skippedThreads: number;
}

export interface ThreadMismatch {
  threadId: string;
  source: { checkpoints: number; writes: number };
  imported: { checkpoints: number; writes: number };
}

export interface ImportResult {
  counts: ImportCounts;
  /** empty when every thread has as many checkpoints and writes as in the source */
  mismatches: ThreadMismatch[];
  verified: boolean;
}

/** A UUID-shaped id from a hash: the same import item always gets the same event id. */
export function importEventId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest('hex');
  // version 8 (custom), RFC 4122 variant
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const nsOf = (t: CheckpointTuple): string => (t.config.configurable?.checkpoint_ns as string | undefined) ?? '';
const idOf = (t: CheckpointTuple): string => (t.config.configurable?.checkpoint_id as string | undefined) ?? t.checkpoint.id;

/** [taskId, writes] in the order the source returned them; idx as LangGraph's putWrites assigns it */
function writesByTask(t: CheckpointTuple): Array<[string, Array<[string, unknown, number]>]> {
  const by = new Map<string, Array<[string, unknown, number]>>();
  for (const [taskId, channel, value] of t.pendingWrites ?? []) {
    let list = by.get(taskId);
    if (!list) by.set(taskId, (list = []));
    list.push([channel, value, WRITES_IDX_MAP[channel] ?? list.length]);
  }
  return [...by];
}

async function readThread(source: Source, threadId: string): Promise<CheckpointTuple[]> {
  const tuples: CheckpointTuple[] = [];
  for await (const t of source.saver.list({ configurable: { thread_id: threadId } })) tuples.push(t);
  // oldest first; checkpoint ids of LangGraph are time-ordered uuid6
  return tuples.sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : nsOf(a) < nsOf(b) ? -1 : 1));
}

export async function runImport(input: Partial<ImportOptions> & Omit<ImportOptions, keyof typeof defaultImportOptions>): Promise<ImportResult> {
  const o: ImportOptions = { ...defaultImportOptions, ...input };
  const all = await o.source.threadIds();
  const threads = o.threads === undefined ? all : o.threads.filter((t) => all.includes(t));
  const missing = o.threads?.filter((t) => !all.includes(t)) ?? [];
  if (missing.length > 0) {
    throw new ThreadlogError('invalid-options', `not in the source: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} — check --threads`);
  }
  const markers = await o.meta.getImportMarkers(o.source.key, threads);
  const counts: ImportCounts = { threads: threads.length, sourceCheckpoints: 0, sourceWrites: 0, appendedCheckpoints: 0, appendedWrites: 0, skippedCheckpoints: 0, skippedWrites: 0, skippedThreads: 0 };
  const sourceCounts = new Map<string, { checkpoints: number; writes: number }>();
  o.onStart?.(threads.length);

  async function importThread(threadId: string): Promise<void> {
    const tuples = await readThread(o.source, threadId);
    const sc = { checkpoints: tuples.length, writes: tuples.reduce((n, t) => n + (t.pendingWrites?.length ?? 0), 0) };
    sourceCounts.set(threadId, sc);
    counts.sourceCheckpoints += sc.checkpoints;
    counts.sourceWrites += sc.writes;
    const marker = markers.get(threadId);
    if (marker?.state === 'done') {
      counts.skippedThreads++;
      counts.skippedCheckpoints += sc.checkpoints;
      counts.skippedWrites += sc.writes;
      return;
    }
    if (o.dryRun) {
      counts.appendedCheckpoints += sc.checkpoints;
      counts.appendedWrites += sc.writes;
      return;
    }
    // an interrupted earlier run may have appended part of this thread: ask the projection
    const resumed = marker?.state === 'started';
    if (resumed) await o.store.load({ threadId }, { consistency: 'strong', timeoutMs: o.readTimeoutMs });
    else await o.meta.putImportMarker({ source: o.source.key, threadId, state: 'started', checkpoints: sc.checkpoints, writes: sc.writes, at: new Date() });

    const byId = new Map(tuples.map((t) => [`${nsOf(t)}\0${idOf(t)}`, t]));
    // (ns, channel, version) -> digest of the value stored under it by this import
    const stored = new Map<string, string>();
    const receipts: Array<Promise<Receipt>> = [];
    // awaited together below; a failure must not also surface as an unhandled rejection
    const append = (records: Parameters<Appender['append']>[0], ticket?: DeltaTicket): void => {
      // a delta is written only after (and only if) the event holding its base is
      const p = o.appender.append(records, ticket ? { after: ticket.dependsOn() } : {});
      ticket?.settle(p);
      p.catch(() => undefined);
      receipts.push(p);
    };
    for (const t of tuples) {
      const ns = nsOf(t);
      const cpId = idOf(t);
      const parentId = t.parentConfig?.configurable?.checkpoint_id as string | undefined;
      const parent = parentId === undefined ? undefined : byId.get(`${ns}\0${parentId}`);
      const existing = resumed ? await o.store.load({ threadId, checkpointNs: ns, checkpointId: cpId }, { consistency: 'eventual' }) : undefined;
      const { channel_values: values = {}, ...header } = t.checkpoint as typeof t.checkpoint & { channel_values?: Record<string, unknown> };
      const versions = t.checkpoint.channel_versions ?? {};
      const encoded: ChannelValue[] = [];
      const ticket = o.deltas.begin(cpId);
      try {
        for (const [channel, version] of Object.entries(versions)) {
          if (!Object.prototype.hasOwnProperty.call(values, channel)) continue;
          // unchanged since a parent we import: its value is stored already
          if (parent !== undefined && parent.checkpoint.channel_versions?.[channel] === version) continue;
          const key = `${ns}\0${channel}\0${String(version)}`;
          const typed = await o.codec.serialize(values[channel]);
          const digest = createHash('sha1').update(typed.type).update(typed.value).digest('hex');
          const before = stored.get(key);
          if (before === digest) continue;
          if (before !== undefined) {
            throw new ThreadlogError(
              'invalid-checkpoint',
              `thread ${threadId}: channel "${channel}" has two different values under version ${String(version)} (a fork of a saver with integer versions); threadlog stores one value per version — import this thread is not possible without renumbering`,
            );
          }
          stored.set(key, digest);
          if (existing !== undefined) continue;
          encoded.push(await ticket.encode(threadId, ns, channel, version, values[channel], parent?.checkpoint.channel_versions?.[channel] ?? null));
        }
        if (existing !== undefined) {
          ticket.abandon();
          counts.skippedCheckpoints++;
        } else {
          const event: CheckpointEvent = {
            type: 'checkpoint',
            eventId: importEventId(o.source.key, threadId, ns, cpId),
            threadId,
            ts: Date.parse(t.checkpoint.ts) || Date.now(),
            checkpointNs: ns,
            checkpointId: cpId,
            parentCheckpointId: parentId,
            checkpoint: header as unknown as CheckpointHeader,
            metadata: (t.metadata ?? {}) as Record<string, unknown>,
            values: encoded,
          };
          append(await o.codec.encode(event), ticket);
          counts.appendedCheckpoints++;
        }
      } catch (e) {
        ticket.abandon();
        throw e;
      }
      const present = new Set((existing?.pendingWrites ?? []).map((w) => w.taskId));
      for (const [taskId, writes] of writesByTask(t)) {
        if (present.has(taskId)) {
          counts.skippedWrites += writes.length;
          continue;
        }
        const event: WritesEvent = {
          type: 'writes',
          eventId: importEventId(o.source.key, threadId, ns, cpId, 'writes', taskId),
          threadId,
          ts: Date.now(),
          checkpointNs: ns,
          checkpointId: cpId,
          taskId,
          taskPath: '',
          writes: await Promise.all(writes.map(async ([channel, value, idx]) => ({ idx, channel, value: await o.codec.serialize(value) }))),
        };
        append(await o.codec.encode(event));
        counts.appendedWrites += writes.length;
      }
    }
    await Promise.all(receipts);
    // the values this process remembers must not become delta bases for someone else's writes
    o.deltas.forget(threadId);
    await o.meta.putImportMarker({ source: o.source.key, threadId, state: 'done', checkpoints: sc.checkpoints, writes: sc.writes, at: new Date() });
  }

  let next = 0;
  let done = 0;
  async function worker(): Promise<void> {
    while (next < threads.length) {
      const t = threads[next++]!;
      await importThread(t);
      done++;
      o.onThread?.(done, counts);
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, threads.length)) }, worker));
  await o.appender.flush();

  const mismatches: ThreadMismatch[] = [];
  if (o.verify && !o.dryRun) {
    for (const threadId of threads) {
      const imported = { checkpoints: 0, writes: 0 };
      for await (const cp of o.store.list({ threadId, consistency: 'strong', timeoutMs: o.readTimeoutMs })) {
        imported.checkpoints++;
        imported.writes += cp.pendingWrites.length;
      }
      const sc = sourceCounts.get(threadId)!;
      if (sc.checkpoints !== imported.checkpoints || sc.writes !== imported.writes) mismatches.push({ threadId, source: sc, imported });
    }
  }
  return { counts, mismatches, verified: o.verify && !o.dryRun };
}
