/**
 * A value too large for its checkpoint document (documents.ts: SPILL_*) is stored as parts
 * of one byte string: u32 BE length of a JSON header, the header (the StoredValue with each
 * serialized value replaced by { type, length }), then the values' bytes in order. Pure.
 */
import { ThreadlogError } from '../../errors.ts';
import type { TypedValue } from '../../events/types.ts';
import { SPILL_PART_BYTES, type StoredValue } from './documents.ts';

type Inline = Exclude<StoredValue, { kind: 'spilled' }>;

export function packSpilled(v: StoredValue, partBytes = SPILL_PART_BYTES): Uint8Array[] {
  if (v.kind === 'spilled') throw new ThreadlogError('invalid-options', 'a spilled value is spilled already');
  const typed: TypedValue[] = v.kind === 'snapshot' ? [v.value] : v.items;
  const header = v.kind === 'snapshot' ? { ...v, value: { type: v.value.type, length: v.value.value.byteLength } } : { ...v, items: v.items.map((it) => ({ type: it.type, length: it.value.byteLength })) };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prelude = Buffer.alloc(4);
  prelude.writeUInt32BE(json.length, 0);
  const whole = Buffer.concat([prelude, json, ...typed.map((t) => t.value)]);
  const parts: Uint8Array[] = [];
  for (let at = 0; at < whole.length; at += partBytes) parts.push(whole.subarray(at, Math.min(whole.length, at + partBytes)));
  return parts;
}

export function unpackSpilled(parts: readonly Uint8Array[]): Inline {
  const whole = Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
  const bad = (why: string): never => {
    throw new ThreadlogError('corrupt-event', `a spilled value's blob documents do not hold a value: ${why}`);
  };
  if (whole.length < 4) bad('too short');
  const jsonEnd = 4 + whole.readUInt32BE(0);
  if (jsonEnd > whole.length) bad('header runs past the end');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(whole.toString('utf8', 4, jsonEnd)) as Record<string, unknown>;
  } catch {
    return bad('header does not parse');
  }
  let at = jsonEnd;
  const take = (r: unknown): TypedValue => {
    const o = r as { type?: unknown; length?: unknown };
    if (typeof o?.type !== 'string' || !Number.isSafeInteger(o.length) || at + (o.length as number) > whole.length) bad('value reference out of bounds');
    const value = new Uint8Array(whole.buffer, whole.byteOffset + at, o.length as number);
    at += o.length as number;
    return { type: o.type as string, value };
  };
  if (header.kind === 'snapshot') return { ...(header as unknown as Inline & { kind: 'snapshot' }), value: take(header.value) };
  if (header.kind === 'append') return { ...(header as unknown as Inline & { kind: 'append' }), items: (header.items as unknown[]).map(take) };
  return bad(`unknown kind ${String(header.kind)}`);
}
