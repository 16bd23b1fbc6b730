/**
 * The audit of a generation in its own layout, for the CLI (`threadlog audit`) and the viewer:
 * layout 1 recomputes the hash chain kept in `<generation>_chains` (audit.ts), layout 2 the
 * links inside the documents (audit-v2.ts). Threads to audit come from the same place.
 */
import type { Db } from 'mongodb';
import type { ThreadLog } from '../kafka/thread-reader.ts';
import { createChainStore } from '../mongo/chain-store.ts';
import { createThreadDocsV2 } from '../mongo/v2/thread-docs.ts';
import { auditThread, type AuditReport } from './audit.ts';
import { auditThreadV2 } from './audit-v2.ts';

export interface Auditor {
  /** threads the projection holds, for `--all` */
  listThreads(): AsyncGenerator<string>;
  /** `applied`: the projection's applied offset per partition */
  audit(threadId: string, log: ThreadLog, applied: ReadonlyMap<number, string>): Promise<AuditReport>;
}

export function createAuditor(db: Db, generation: string, layout: 1 | 2): Auditor {
  const through = (log: ThreadLog, applied: ReadonlyMap<number, string>): number | undefined => {
    const t = applied.get(log.partition);
    return t === undefined ? undefined : Number(t);
  };
  if (layout === 2) {
    const docs = createThreadDocsV2(db, generation);
    return {
      listThreads: () => docs.listThreads(),
      async audit(threadId, log, applied) {
        const [stored, pruned] = await Promise.all([docs.threadDocs(threadId), docs.prunedIds(threadId)]);
        return auditThreadV2({ threadId, events: log.events, appliedThrough: through(log, applied), docs: stored, pruned });
      },
    };
  }
  const chains = createChainStore(db, generation);
  return {
    listThreads: () => chains.listChainedThreads(),
    async audit(threadId, log, applied) {
      const [chain, docs, pruned] = await Promise.all([chains.getChain(threadId), chains.threadDocs(threadId), chains.prunedIds(threadId)]);
      return auditThread({ threadId, events: log.events, appliedThrough: through(log, applied), chain, getLink: (pos) => chains.getLink(threadId, pos), docs, pruned });
    },
  };
}
