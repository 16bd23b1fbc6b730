/**
 * Shapes shared by the orchestrator (main.ts) and the per-cell child process (worker.ts).
 * One cell = one saver × one workload × one size × one repetition, run in its own process so
 * its peak RSS is the client's alone.
 */
export const saverKinds = ['threadlog', 'memory', 'sqlite', 'postgres', 'mongodb'] as const;
export type SaverKind = (typeof saverKinds)[number];

export const saverLabels: Record<SaverKind, string> = {
  threadlog: 'ThreadlogSaver',
  memory: 'MemorySaver',
  sqlite: 'SqliteSaver',
  postgres: 'PostgresSaver',
  mongodb: 'MongoDBSaver',
};

export type WorkloadKind = 'saver' | 'graph' | 'bytes';

export interface CellSpec {
  saver: SaverKind;
  workload: WorkloadKind;
  threads: number;
  /** saver/bytes: steps per thread; graph: turns per thread */
  steps: number;
  rep: number;
  messageBytes: number;
  /** bytes workload: pause at these step counts so the parent can measure storage */
  pauseAt: number[];
  /** saver/graph: no new step starts after this many seconds (the cell is then "capped") */
  capSeconds: number;
  /** the client on core 0, the servers and the projector on core 1 (bench/suite/pin.ts) */
  pinned?: boolean;
}

/** Where the child connects; every name is unique to the cell (the parent removes them). */
export interface CellTarget {
  /** database / topic prefix / Redis key prefix of this cell */
  ns: string;
  brokers: string[];
  mongoUrl: string;
  redisUrl: string;
  partitions: number;
  /** postgres: a database made for this cell */
  pgUrl?: string;
  /** sqlite: a file in a temp dir made for this cell */
  sqlitePath?: string;
}

export interface Quantiles {
  n: number;
  p50: number;
  p99: number;
}

export interface CellResult {
  spec: CellSpec;
  seconds: number;
  /** saver/bytes: steps; graph: turns */
  ops: number;
  opsPerSec: number;
  put?: Quantiles;
  putWrites?: Quantiles;
  getTuple?: Quantiles;
  list?: Quantiles;
  /** threadlog: save acknowledged → head visible in Redis, ms */
  lag?: Quantiles;
  /** reads that did not return the state just written (must be 0) */
  mismatches: number;
  /** threads that stopped on an error (e.g. a read that timed out) */
  failedThreads?: { count: number; messages: string[] };
  /** the time cap stopped the cell before every thread did all its steps */
  capped?: boolean;
  /** CPU seconds used during the cell: the client process and the servers it talks to */
  cpuSeconds?: Record<string, number>;
  /** threadlog: the projector's own metrics over the cell */
  projector?: { batches: number; meanBatchMs: number; eventsPerBatch: number };
  /** the cell failed or timed out: why (no numbers then) */
  error?: string;
  peakRssBytes: number;
  /** bytes workload: storage after k steps per thread */
  storage?: StorageSample[];
  /** threadlog: peak RSS of the separate projector process */
  projectorPeakRssBytes?: number;
}

export interface StorageSample {
  steps: number;
  /** the saver's own storage (projection for threadlog); undefined: not applicable */
  bytes: number | undefined;
  /** threadlog only: the Kafka log segments of the cell's topic */
  kafkaLogBytes?: number;
  bytesPerStep: number | undefined;
  kafkaBytesPerStep?: number;
}

export type ChildMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'pause'; steps: number }
  | { type: 'result'; result: Omit<CellResult, 'storage' | 'projectorPeakRssBytes'> }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'run'; spec: CellSpec; target: CellTarget } | { type: 'resume' };
