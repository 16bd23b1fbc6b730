/**
 * The audit of a thread (ops/audit.ts) as one status per event of its log, for the viewer's
 * badges. Pure: the report and the log in, rows out.
 * - `verified`: the event is in the projection's hash chain and every document it produced
 *   matches what the log says;
 * - `altered`, `missing`, `extra`: a divergence the audit found at this event's log position
 *   (a document or chain link that differs, is absent, or that no event of the log produces);
 * - `unverified`: after the chain's first divergence: its documents match, but the chain no
 *   longer vouches for it;
 * - `broken`: a checkpoint the log itself cannot assemble (a delta without its base);
 * - `pending`: after the projection's applied offset (not projected yet, not a divergence).
 */
import type { LoggedEvent } from '../events/types.ts';
import type { AuditReport, Divergence, DivergenceKind } from '../ops/audit.ts';
import { timelineRow } from '../ops/timeline.ts';

export type EventAuditStatus = 'verified' | DivergenceKind | 'unverified' | 'broken' | 'pending';

export interface EventAudit {
  /** `partition:offset` */
  position: string;
  eventId: string;
  type: string;
  checkpointNs: string | undefined;
  checkpointId: string | undefined;
  /** stored bytes of the event (after chunk reassembly, before decompression) */
  bytes: number;
  time: string;
  status: EventAuditStatus;
  /** what the audit says about it, when it is not verified */
  messages: string[];
  /** the first divergence of the thread is at this event */
  first: boolean;
}

export interface ThreadAudit {
  ok: boolean;
  events: EventAudit[];
  /** divergences at no event of the log (extra documents of unknown position) */
  orphans: Array<Pick<Divergence, 'kind' | 'docId' | 'message'> & { position: string }>;
  first: (Pick<Divergence, 'kind' | 'docId' | 'message'> & { position: string }) | undefined;
  audited: number;
  notYetProjected: number;
  counts: Record<EventAuditStatus, number>;
}

const label = (p: { partition: number; offset: number | string }): string => `${p.partition}:${p.offset}`;
/** when several divergences meet at one event, the badge shows the most serious */
const rank: Record<EventAuditStatus, number> = { altered: 6, missing: 5, extra: 4, broken: 3, unverified: 2, pending: 1, verified: 0 };

export function eventStatuses(report: AuditReport, events: readonly LoggedEvent[], appliedThrough: number | undefined): ThreadAudit {
  const at = new Map<string, Divergence[]>();
  for (const d of report.divergences) {
    const k = label(d.position);
    at.set(k, [...(at.get(k) ?? []), d]);
  }
  const broken = new Map<string, string[]>();
  for (const b of report.assembly.problems) {
    const k = label(b.position);
    broken.set(k, [...(broken.get(k) ?? []), b.message]);
  }
  // the chain divergence (if any) is the one without a document
  const chainBreak = report.divergences.find((d) => d.docId === undefined);
  const firstKey = report.first ? label(report.first.position) : undefined;
  const counts: Record<EventAuditStatus, number> = { verified: 0, altered: 0, missing: 0, extra: 0, unverified: 0, broken: 0, pending: 0 };
  const seen = new Set<string>();
  const rows = events.map((e): EventAudit => {
    const row = timelineRow(e);
    const key = label(e.position);
    seen.add(key);
    const offset = Number(e.position.offset);
    const divs = at.get(key) ?? [];
    const messages = [...divs.map((d) => d.message), ...(broken.get(key) ?? [])];
    let status: EventAuditStatus = 'verified';
    if (appliedThrough === undefined || offset > appliedThrough) status = 'pending';
    else if (chainBreak && offset > chainBreak.position.offset) status = 'unverified';
    for (const d of divs) if (rank[d.kind] > rank[status]) status = d.kind;
    if (broken.has(key) && rank.broken > rank[status]) status = 'broken';
    counts[status] += 1;
    return {
      position: key,
      eventId: row.eventId,
      type: row.type,
      checkpointNs: row.checkpointNs,
      checkpointId: row.checkpointId,
      bytes: row.bytes,
      time: row.time,
      status,
      messages,
      first: key === firstKey,
    };
  });
  const orphans = report.divergences.filter((d) => !seen.has(label(d.position))).map((d) => ({ kind: d.kind, docId: d.docId, message: d.message, position: label(d.position) }));
  const f = report.first;
  return {
    ok: report.ok,
    events: rows,
    orphans,
    first: f ? { kind: f.kind, docId: f.docId, message: f.message, position: label(f.position) } : undefined,
    audited: report.audited,
    notYetProjected: report.notYetProjected,
    counts,
  };
}
