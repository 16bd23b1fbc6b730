/**
 * Read-path metrics, on the registry the caller passes (none: counted only for stats()).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CacheLevel } from './types.ts';

export interface StoreMetrics {
  hit(level: CacheLevel): void;
  miss(level: CacheLevel): void;
  /** a load served by `level` ('none' when nothing was found) */
  observeLoad(level: CacheLevel | 'none', seconds: number): void;
  redisDegraded(what: string): void;
  staleRead(): void;
  setL1(bytes: number, entries: number): void;
}

export function createStoreMetrics(registry: Registry | undefined, prefix: string): StoreMetrics {
  if (registry === undefined) {
    return { hit: () => undefined, miss: () => undefined, observeLoad: () => undefined, redisDegraded: () => undefined, staleRead: () => undefined, setL1: () => undefined };
  }
  const registers = [registry];
  const hits = new Counter({ name: `${prefix}cache_hits_total`, help: 'Cache hits by level (l1 memory, l2 Redis, l3 MongoDB)', labelNames: ['level'], registers });
  const misses = new Counter({ name: `${prefix}cache_misses_total`, help: 'Cache misses by level', labelNames: ['level'], registers });
  const load = new Histogram({
    name: `${prefix}load_duration_seconds`,
    help: 'load() latency by the level that served it',
    labelNames: ['level'],
    // from an L1 hit (~10 µs) to a wait for the projector (seconds)
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers,
  });
  const degraded = new Counter({ name: `${prefix}redis_degraded_reads_total`, help: 'Redis calls skipped or failed: the read went to MongoDB', labelNames: ['op'], registers });
  const stale = new Counter({ name: `${prefix}stale_read_errors_total`, help: "Reads that gave up waiting for the projection ('stale-read')", registers });
  const l1Bytes = new Gauge({ name: `${prefix}l1_bytes`, help: 'Bytes held by the in-process cache', registers });
  const l1Entries = new Gauge({ name: `${prefix}l1_entries`, help: 'Entries in the in-process cache', registers });
  return {
    hit: (level) => hits.inc({ level }),
    miss: (level) => misses.inc({ level }),
    observeLoad: (level, s) => load.observe({ level }, s),
    redisDegraded: (op) => degraded.inc({ op }),
    staleRead: () => stale.inc(),
    setL1: (b, n) => {
      l1Bytes.set(b);
      l1Entries.set(n);
    },
  };
}
