/**
 * The one query encryption adds to the projection: a cross-thread list with a metadata filter
 * must also see encrypted checkpoints, whose metadata MongoDB holds only sealed. So it asks
 * for the checkpoints whose clear metadata matches OR that carry sealed fields; the caller
 * (store/sealed-projection.ts) opens the sealed ones and keeps those that match. On MongoDB the
 * second branch wants an index on `sealed` (sparse); on FerretDB every list scans anyway.
 * Works on both layouts (layout 1 has no `pruned`, so that clause matches every document).
 */
import type { Collection } from 'mongodb';
import { metadataQuery } from '../projection/metadata.ts';
import { mongoCall } from './errors.ts';
import { toCheckpointRecord, type CheckpointRecord } from './records.ts';

export async function listMatchingOrSealed(
  checkpoints: Collection<{ _id: string }>,
  options: { filter: Record<string, unknown>; before?: string; limit?: number },
): Promise<CheckpointRecord[]> {
  const query = {
    $or: [metadataQuery(options.filter), { sealed: { $exists: true } }],
    pruned: { $exists: false },
    ...(options.before === undefined ? {} : { checkpointId: { $lt: options.before } }),
  };
  const docs = await mongoCall('listing checkpoints', () => {
    let cursor = checkpoints.find(query, { projection: { values: 0, link: 0 } }).sort({ checkpointId: -1, _id: -1 });
    if (options.limit !== undefined) cursor = cursor.limit(options.limit);
    return cursor.toArray();
  });
  return docs.map(toCheckpointRecord);
}
