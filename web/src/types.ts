/** The viewer API's JSON, as src/ui/rows.ts, data.ts, diff.ts and audit-status.ts send it. */
export interface ThreadRow {
  threadId: string;
  checkpointId: string;
  time: string;
  step: number | null;
  source: string | null;
  metadata: unknown;
  namespaces?: string[];
}

export interface CheckpointRow {
  checkpointId: string;
  checkpointNs: string;
  parentCheckpointId: string | null;
  time: string;
  step: number | null;
  source: string | null;
  metadata: unknown;
  position: string;
  writes: Array<{ taskId: string; channel: string }>;
  interrupt: boolean;
  resume: boolean;
  error: boolean;
  replayedFrom: string | null;
}

export interface ThreadPage {
  threadId: string;
  partition: number;
  checkpoints: CheckpointRow[];
  next?: string;
}

export interface CheckpointDetail {
  row: CheckpointRow;
  state: unknown;
  channelVersions: unknown;
  versionsSeen: unknown;
  pendingWrites: Array<{ taskId: string; taskPath: string; channel: string; value: unknown }>;
  tasks: Array<{ taskId: string; taskPath: string; channels: string[] }>;
}

export interface Change {
  path: Array<string | number>;
  kind: 'added' | 'removed' | 'replaced' | 'moved';
  before?: unknown;
  after?: unknown;
}

export interface StateDiff {
  parentCheckpointId: string | null;
  channels: Array<{ channel: string; kind: 'added' | 'removed' | 'replaced' | 'appended' | 'changed'; appended?: number }>;
  changes: Change[];
  truncated: boolean;
}

export type AuditStatus = 'verified' | 'altered' | 'missing' | 'extra' | 'unverified' | 'broken' | 'pending';

export interface EventAudit {
  position: string;
  eventId: string;
  type: string;
  checkpointNs: string | undefined;
  checkpointId: string | undefined;
  bytes: number;
  time: string;
  status: AuditStatus;
  messages: string[];
  first: boolean;
}

export interface ThreadAudit {
  ok: boolean;
  events: EventAudit[];
  orphans: Array<{ kind: string; docId?: string; message: string; position: string }>;
  first: { kind: string; docId?: string; message: string; position: string } | undefined;
  audited: number;
  notYetProjected: number;
  counts: Record<AuditStatus, number>;
  partition: number;
  endOffset: string;
  appliedThrough: number | null;
  unreadable: number;
}

export interface PartitionLag {
  partition: number;
  endOffset: number;
  applied: number;
  lag: number;
}
