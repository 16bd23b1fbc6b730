/**
 * A thread's events as read from the log, made readable for the tools that show content
 * (replay): an erased thread is refused (its content is destroyed — timeline shows its ids and
 * times), sealed events are opened with the thread's data key, and a reader without one is
 * told which setting it lacks.
 */
import { openEvent, isSealedEvent } from '../crypto/seal.ts';
import type { ThreadKeys } from '../crypto/thread-keys.ts';
import { ThreadlogError } from '../errors.ts';
import type { LoggedEvent } from '../events/types.ts';

export function erasedThreadError(threadId: string, at: { ts: number; partition?: number; offset?: string }): ThreadlogError {
  const where = at.partition === undefined ? '' : ` (log position ${at.partition}:${at.offset})`;
  return new ThreadlogError('thread-erased', `thread ${JSON.stringify(threadId)} was erased at ${new Date(at.ts).toISOString()}${where}: its content is destroyed; 'threadlog timeline ${threadId}' shows its ids and times`, {
    details: { threadId, erasedAt: at.ts },
  });
}

/** the first erasure in a thread's log, if any */
export function erasureOf(events: readonly LoggedEvent[]): LoggedEvent | undefined {
  return events.find((e) => e.event.type === 'thread-erased');
}

export async function openThreadLog(threadId: string, events: readonly LoggedEvent[], keys: ThreadKeys | undefined): Promise<LoggedEvent[]> {
  const erased = erasureOf(events);
  if (erased !== undefined) throw erasedThreadError(threadId, { ts: erased.event.ts, partition: erased.position.partition, offset: erased.position.offset });
  if (!events.some((e) => isSealedEvent(e.event))) return [...events];
  if (keys === undefined) {
    throw new ThreadlogError('encryption-disabled', `thread ${JSON.stringify(threadId)} is encrypted: set THREADLOG_MASTER_KEY_FILE (or THREADLOG_MASTER_KEY) to the master key to read it`);
  }
  const r = await keys.forRead(threadId, { fresh: true });
  if (r.state === 'erased') throw erasedThreadError(threadId, { ts: r.erasedAt });
  if (r.state === 'none') {
    throw new ThreadlogError('missing-thread-key', `thread ${JSON.stringify(threadId)} holds encrypted events but the key store has no key for it: is THREADLOG_MONGO_DB the database its keys were made in (the threadlog_keys collection)?`, { details: { threadId } });
  }
  return events.map((e) => (isSealedEvent(e.event) ? { ...e, event: openEvent(e.event, r.key) } : e));
}
