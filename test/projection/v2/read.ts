/** Reads a checkpoint's values from layout-2 documents as the SDK does: origins, then skip-delta bases by exact `_id`. */
import { expect } from 'vitest';
import { collectDeltaChain, resolveChannelValue, type ChannelVersion } from '../../../src/events/index.ts';
import { ids } from '../../../src/projection/ids.ts';
import type { BlobPartDocV2, CheckpointDocV2 } from '../../../src/projection/v2/documents.ts';
import { channelValueOf, type MemoryProjectionV2 } from '../../../src/projection/v2/memory.ts';
import { serializer } from './model.ts';

export async function readValues(mem: MemoryProjectionV2, thread: string, ns: string, id: string): Promise<Record<string, unknown>> {
  const doc = mem.get(ids.checkpoint(thread, ns, id)) as CheckpointDocV2 | undefined;
  if (doc === undefined) throw new Error(`no document for ${id}`);
  expect(doc.unresolved ?? []).toEqual([]);
  const versions = (JSON.parse(doc.checkpoint) as { channel_versions: Record<string, ChannelVersion> }).channel_versions;
  const parts = (pid: string) => (mem.get(pid) as BlobPartDocV2 | undefined)?.data;
  const at = (cp: string, channel: string, version: ChannelVersion) => {
    const d = mem.get(ids.checkpoint(thread, ns, cp)) as CheckpointDocV2 | undefined;
    return d && channelValueOf(d, channel, version, parts);
  };
  const out: Record<string, unknown> = {};
  for (const { channel, checkpoint } of doc.origins) {
    const head = at(checkpoint, channel, versions[channel]!);
    if (head === undefined) throw new Error(`${id}: channel ${channel} not at its origin ${checkpoint}`);
    const chain = await collectDeltaChain(head, async (version, base) => (base === undefined ? undefined : at(base, channel, version)));
    out[channel] = await resolveChannelValue(chain, serializer);
  }
  return out;
}

