/**
 * Write-path metrics. The registry is always passed in (never prom-client's global one) so
 * two stores in one process, or two tests, never collide.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ThreadlogErrorCode } from '../errors.ts';

export interface AppenderMetrics {
  observeSave(seconds: number): void;
  observeBatch(records: number, bytes: number): void;
  countError(code: ThreadlogErrorCode): void;
  setBufferedBytes(bytes: number): void;
}

export interface AppenderMetricsOptions {
  registry: Registry;
  /** metric name prefix */
  prefix?: string;
}

export function createAppenderMetrics({ registry, prefix = 'threadlog_' }: AppenderMetricsOptions): AppenderMetrics {
  const save = new Histogram({
    name: `${prefix}save_duration_seconds`,
    help: 'Time from append() to the broker acknowledging the event (all its records)',
    // sub-millisecond to seconds: a local broker answers in ~1 ms, a stalled one in seconds
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const batchRecords = new Histogram({
    name: `${prefix}append_batch_records`,
    help: 'Records per sendBatch call',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    registers: [registry],
  });
  const batchBytes = new Histogram({
    name: `${prefix}append_batch_bytes`,
    help: 'Estimated bytes per sendBatch call',
    buckets: [1024, 4096, 16384, 65536, 262144, 524288, 1048576, 4194304, 16777216],
    registers: [registry],
  });
  const errors = new Counter({
    name: `${prefix}append_errors_total`,
    help: 'Failed appends by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  const buffered = new Gauge({
    name: `${prefix}append_buffered_bytes`,
    help: 'Bytes accepted by the appender and not yet acknowledged by the broker',
    registers: [registry],
  });
  return {
    observeSave: (s) => save.observe(s),
    observeBatch: (records, bytes) => {
      batchRecords.observe(records);
      batchBytes.observe(bytes);
    },
    countError: (code) => errors.inc({ code }),
    setBufferedBytes: (b) => buffered.set(b),
  };
}

export const noopAppenderMetrics: AppenderMetrics = {
  observeSave: () => undefined,
  observeBatch: () => undefined,
  countError: () => undefined,
  setBufferedBytes: () => undefined,
};
