/**
 * Master-key rotation: every active data key not wrapped by the current master key is
 * unwrapped with the old one and wrapped again with the new one. The log is not touched (its
 * events are sealed with the data keys, which do not change), nor is the projection. Each key
 * is re-wrapped by a compare-and-set on its old master key id, so a concurrent rotation or
 * erasure wins cleanly: an erased key is never brought back. Restartable: a rerun picks up
 * what is left.
 */
import { ThreadlogError } from '../errors.ts';
import type { KeyProvider } from './key-provider.ts';
import type { KeyStore } from './thread-keys.ts';

export interface RotateOptions {
  store: KeyStore;
  /** the new master key */
  to: KeyProvider;
  /** the master keys data keys may still be wrapped by */
  from: readonly KeyProvider[];
  /** keys read per page */
  pageSize?: number;
  onProgress?(p: { rewrapped: number; skipped: number }): void;
}

export interface RotateResult {
  rewrapped: number;
  /** keys that changed while being re-wrapped (erased, or re-wrapped by another rotation) */
  skipped: number;
  /** master key ids still wrapping a data key: no provider was given for them */
  missing: string[];
}

export async function rotateMasterKey(o: RotateOptions): Promise<RotateResult> {
  const providers = new Map(o.from.map((p) => [p.keyId, p]));
  const pageSize = o.pageSize ?? 500;
  const result: RotateResult = { rewrapped: 0, skipped: 0, missing: [] };
  const missing = new Set<string>();
  let after: string | undefined;
  for (;;) {
    const page = await o.store.notWrappedBy(o.to.keyId, after, pageSize);
    for (const k of page) {
      const p = providers.get(k.masterKeyId);
      if (p === undefined) {
        missing.add(k.masterKeyId);
        continue;
      }
      const raw = await p.unwrap(k.wrapped, { threadId: k.threadId });
      const wrapped = await o.to.wrap(raw, { threadId: k.threadId });
      raw.fill(0);
      if (await o.store.rewrap(k.threadId, { masterKeyId: k.masterKeyId }, { masterKeyId: o.to.keyId, wrapped })) result.rewrapped++;
      else result.skipped++;
    }
    o.onProgress?.({ rewrapped: result.rewrapped, skipped: result.skipped });
    if (page.length < pageSize) break;
    after = page[page.length - 1]!.threadId;
  }
  result.missing = [...missing].sort();
  if (result.missing.length > 0) {
    throw new ThreadlogError('wrong-master-key', `rotation re-wrapped ${result.rewrapped} keys, but some are wrapped by master keys not given: ${result.missing.join(', ')}; pass their files as previous keys (THREADLOG_PREVIOUS_MASTER_KEY_FILES) and run it again`, {
      details: { ...result },
    });
  }
  return result;
}
