/**
 * Projector metrics. The registry is always passed in (never prom-client's global one), so
 * two projectors in one process (embedded mode, tests) never collide.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EventType } from '../events/types.ts';

export interface ProjectorMetrics {
  setLag(partition: number, lag: number): void;
  removePartition(partition: number): void;
  countApplied(type: EventType, applied: boolean): void;
  observeBatch(seconds: number, events: number): void;
  countDeadLetter(reason: string): void;
  countRetry(what: RetryCause): void;
  setPaused(what: RetryCause, paused: boolean): void;
  /** an append delta projected without its base (projector/missing-bases.ts) */
  countBrokenDelta(): void;
  /** documents a batch wrote: new ones inserted, existing ones replaced under a guard, removed */
  countDocuments(counts: { inserted: number; replaced: number; deleted: number }): void;
}

/** what a retried step waits for */
export type RetryCause = 'mongo' | 'redis' | 'kafka';

export function createProjectorMetrics(registry: Registry, prefix = 'threadlog_'): ProjectorMetrics {
  const lag = new Gauge({
    name: `${prefix}projector_lag_events`,
    help: 'Records between the partition end and the next record this projector will apply',
    labelNames: ['partition'],
    registers: [registry],
  });
  const events = new Counter({
    name: `${prefix}projector_events_total`,
    help: 'Events handed to the projection, by type and whether they changed it (duplicates and older events do not)',
    labelNames: ['type', 'applied'],
    registers: [registry],
  });
  const batch = new Histogram({
    name: `${prefix}projector_batch_duration_seconds`,
    help: 'Time from receiving a batch to committing it, retries included',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const batchEvents = new Histogram({
    name: `${prefix}projector_batch_events`,
    help: 'Events per applied batch',
    buckets: [1, 4, 16, 64, 256, 1024, 4096],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: `${prefix}projector_dead_letters_total`,
    help: 'Records sent to the dead-letter topic, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const retries = new Counter({
    name: `${prefix}projector_retries_total`,
    help: 'Retried batch steps, by the service that failed',
    labelNames: ['service'],
    registers: [registry],
  });
  const paused = new Gauge({
    name: `${prefix}projector_paused`,
    help: '1 while the projector waits for this service to come back',
    labelNames: ['service'],
    registers: [registry],
  });
  const broken = new Counter({
    name: `${prefix}projector_broken_deltas_total`,
    help: 'Append deltas projected whose base is neither in the projection nor earlier in the log: those checkpoints cannot be read',
    registers: [registry],
  });
  const documents = new Counter({
    name: `${prefix}projector_documents_total`,
    help: 'Projection documents written: inserted (new), replaced (an existing one, under a guard), deleted — the work an event costs the database',
    labelNames: ['op'],
    registers: [registry],
  });
  return {
    countBrokenDelta: () => broken.inc(),
    countDocuments: ({ inserted, replaced, deleted }) => {
      if (inserted > 0) documents.inc({ op: 'inserted' }, inserted);
      if (replaced > 0) documents.inc({ op: 'replaced' }, replaced);
      if (deleted > 0) documents.inc({ op: 'deleted' }, deleted);
    },
    setLag: (p, n) => lag.set({ partition: String(p) }, n),
    removePartition: (p) => lag.remove({ partition: String(p) }),
    countApplied: (type, applied) => events.inc({ type, applied: String(applied) }),
    observeBatch: (s, n) => {
      batch.observe(s);
      batchEvents.observe(n);
    },
    countDeadLetter: (reason) => deadLetters.inc({ reason }),
    countRetry: (service) => retries.inc({ service }),
    setPaused: (service, on) => paused.set({ service }, on ? 1 : 0),
  };
}

export const noopProjectorMetrics: ProjectorMetrics = {
  setLag: () => undefined,
  removePartition: () => undefined,
  countApplied: () => undefined,
  observeBatch: () => undefined,
  countDeadLetter: () => undefined,
  countRetry: () => undefined,
  setPaused: () => undefined,
  countBrokenDelta: () => undefined,
  countDocuments: () => undefined,
};
