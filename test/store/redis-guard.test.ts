/**
 * The Redis circuit breaker's deadline: a real timeout opens it, a timer that merely fired late
 * behind a busy event loop does not (the answer was already there).
 */
import { closeSync, openSync, read } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { createRedisGuard } from '../../src/store/redis-guard.ts';

function guard(timeoutMs: number) {
  const degradedBy: string[] = [];
  const g = createRedisGuard({ enabled: true, timeoutMs, cooldownMs: 60_000, logger: silentLogger, onDegraded: (what) => degradedBy.push(what) });
  return { g, degradedBy };
}

const busy = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the agent's own CPU work, holding the event loop past the deadline
  }
};

describe('redis guard', () => {
  it('an answer that arrived while the event loop was busy past the deadline counts, and the breaker stays closed', async () => {
    const { g, degradedBy } = guard(5);
    // I/O completing during the busy spell is delivered in the next turn's poll phase, after
    // that turn's timers: the deadline's timer fires first (a file read stands for the socket)
    const fd = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      // resolving with the call's promise adopts it: this awaits the call
      const result = await new Promise<Awaited<ReturnType<typeof g.call<number>>>>((started) =>
        setImmediate(() => {
          started(g.call('reading a head', () => new Promise<number>((r) => read(fd, Buffer.alloc(1), 0, 1, 0, () => r(42)))));
          busy(150);
        }),
      );
      expect(result).toEqual({ ok: true, value: 42 });
    } finally {
      closeSync(fd);
    }
    expect(g.degraded).toBe(false);
    expect(g.failures).toBe(0);
    expect(degradedBy).toEqual([]);
  });

  it('a call that does not answer within the deadline fails over and opens the breaker', async () => {
    const { g, degradedBy } = guard(20);
    const started = performance.now();
    expect(await g.call('reading a head', () => new Promise<number>(() => undefined))).toEqual({ ok: false });
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
    expect(g.degraded).toBe(true);
    expect(g.failures).toBe(1);
    // open: the next call is not even tried
    let tried = false;
    expect(
      await g.call('reading a checkpoint', async () => {
        tried = true;
        return 1;
      }),
    ).toEqual({ ok: false });
    expect(tried).toBe(false);
    expect(degradedBy).toEqual(['reading a head', 'reading a checkpoint']);
  });
});
