/**
 * Live updates of an open thread: server-sent events driven by the projector's watermarks.
 * One loop per partition that someone watches waits on the store's WatermarkWaiter (Redis
 * pub/sub, MongoDB's applied offsets while Redis is down) for the watermark to move; each
 * move makes every stream watching that partition ask for checkpoints newer than the ones
 * it sent, and send them with the partition's lag.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isThreadlogError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { NONE } from '../store/session.ts';
import type { WatermarkWaiter } from '../store/watermarks.ts';
import type { ViewerData } from './data.ts';

export interface LiveFeed {
  /** `onMove` runs after each move of the partition's watermark; returns the unsubscribe */
  watch(partition: number, onMove: () => void): () => void;
  close(): Promise<void>;
}

export interface LiveFeedOptions {
  waiter: WatermarkWaiter;
  logger: Logger;
  /** one wait's bound; a quiet partition just waits again */
  waitMs?: number;
}

export function createLiveFeed(o: LiveFeedOptions): LiveFeed {
  const watchers = new Map<number, Set<() => void>>();
  const waitMs = o.waitMs ?? 5_000;
  let closed = false;

  async function loop(p: number): Promise<void> {
    let cur = NONE;
    try {
      await o.waiter.watch();
      cur = (await o.waiter.refresh([p])).get(p) ?? o.waiter.known(p);
    } catch (e) {
      o.logger.warn({ err: e, partition: p }, 'reading watermarks');
    }
    while (!closed && (watchers.get(p)?.size ?? 0) > 0) {
      try {
        await o.waiter.waitFor(new Map([[p, cur + 1n]]), waitMs);
      } catch (e) {
        if (!isThreadlogError(e, 'stale-read')) {
          o.logger.warn({ err: e, partition: p }, 'waiting for the projection');
          await new Promise((r) => setTimeout(r, 1_000));
        }
        continue;
      }
      cur = o.waiter.known(p);
      for (const w of [...(watchers.get(p) ?? [])]) w();
    }
  }

  const running = new Set<number>();
  function ensureLoop(p: number): void {
    if (running.has(p) || closed) return;
    running.add(p);
    void loop(p).finally(() => {
      running.delete(p);
      // a watcher that came while the loop was ending needs a loop again
      if (!closed && (watchers.get(p)?.size ?? 0) > 0) ensureLoop(p);
    });
  }

  return {
    watch(partition, onMove) {
      let set = watchers.get(partition);
      if (!set) {
        set = new Set();
        watchers.set(partition, set);
      }
      set.add(onMove);
      ensureLoop(partition);
      const mine = set;
      return () => {
        mine.delete(onMove);
      };
    },
    async close() {
      closed = true;
      watchers.clear();
      await o.waiter.close();
    },
  };
}

/** One client's event stream for one thread: `since` is the newest checkpoint id it shows. */
export function serveLive(req: IncomingMessage, res: ServerResponse, o: { data: ViewerData; feed: LiveFeed; threadId: string; partition: number; since: string | undefined; logger: Logger }): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  const send = (event: string, data: unknown): void => void res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let since = o.since;
  let running = false;
  let again = false;
  let ended = false;

  async function update(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const [page, lag] = await Promise.all([o.data.thread(o.threadId, { limit: 50 }), o.data.lag(o.partition)]);
        if (ended) return;
        const fresh = page.checkpoints.filter((c) => since === undefined || c.checkpointId > since);
        // more than a page arrived: the client reloads instead of patching a gap
        if (fresh.length === page.checkpoints.length && page.next !== undefined && since !== undefined) send('reset', {});
        else if (fresh.length > 0) send('checkpoints', { checkpoints: fresh });
        const newest = page.checkpoints[0]?.checkpointId;
        if (newest !== undefined && (since === undefined || newest > since)) since = newest;
        send('lag', lag[0] ?? null);
      } while (again && !ended);
    } catch (e) {
      o.logger.warn({ err: e, thread: o.threadId }, 'live update failed');
      if (!ended) send('problem', { message: e instanceof Error ? e.message : String(e) });
    } finally {
      running = false;
    }
  }

  const unwatch = o.feed.watch(o.partition, () => void update());
  const ping = setInterval(() => void res.write(': ping\n\n'), 15_000);
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(ping);
    unwatch();
  };
  req.on('close', end);
  res.on('close', end);
  send('hello', { partition: o.partition });
  void update();
}
