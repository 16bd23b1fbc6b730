/**
 * Back-off for one step of a batch. The projector must never skip an event nor commit past
 * one it did not apply, so a step that fails because a service is down is retried in place,
 * holding the batch (and its partition) until the service is back, the batch goes stale
 * (rebalance) or the projector stops. Only retriable ThreadlogErrors are retried: anything
 * else is a bug or a refusal that waiting will not fix.
 */
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import type { RetryCause } from './metrics.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  /** ± this fraction of randomness, so N projectors do not hammer a recovering server in step */
  jitter: number;
}

export const defaultBackoffOptions: BackoffOptions = { initialMs: 100, maxMs: 10_000, multiplier: 2, jitter: 0.2 };

export interface RetryHooks {
  /** false once the batch is stale or the projector stops: the step gives up with 'closed' */
  keepGoing(): boolean;
  /** keeps the consumer group membership alive while we wait */
  heartbeat(): Promise<void>;
  onRetry(cause: RetryCause, error: ThreadlogError, attempt: number, delayMs: number): void;
  onRecovered(cause: RetryCause, attempts: number): void;
}

// Waits are cut into slices so a stop or a heartbeat never waits a whole back-off period.
const SLICE_MS = 200;

export function backoffDelay(o: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(o.maxMs, o.initialMs * o.multiplier ** (attempt - 1));
  return Math.round(base * (1 - o.jitter + 2 * o.jitter * random()));
}

export async function withRetry<T>(cause: RetryCause, step: () => Promise<T>, hooks: RetryHooks, backoff: BackoffOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    // checked before retries only: a stop lets the step in progress finish (graceful)
    if (attempt > 1 && !hooks.keepGoing()) throw new ThreadlogError('closed', `gave up a ${cause} step: the batch is stale or the projector is stopping`);
    try {
      const result = await step();
      if (attempt > 1) hooks.onRecovered(cause, attempt - 1);
      return result;
    } catch (e) {
      if (!isThreadlogError(e) || !e.retriable) throw e;
      const delay = backoffDelay(backoff, attempt);
      hooks.onRetry(cause, e, attempt, delay);
      const until = Date.now() + delay;
      while (Date.now() < until && hooks.keepGoing()) {
        await new Promise((r) => setTimeout(r, Math.min(SLICE_MS, until - Date.now())));
        await hooks.heartbeat();
      }
    }
  }
}
