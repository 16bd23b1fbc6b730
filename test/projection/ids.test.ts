import { describe, expect, it } from 'vitest';
import { decodeIdPart, decodeVersion, encodeIdPart, encodeVersion, idRange, ids } from '../../src/projection/ids.ts';

const hostile = [
  '',
  'a',
  'a:b',
  'a%3Ab',
  'a:',
  ':a',
  '%',
  '%25',
  '::',
  'a;b',
  'a"b\'c',
  '{a}',
  '}{',
  'a\u0000b',
  'a\nb',
  'ünïcødé-✓-🧵',
  '\ud800',
  '\udc00x',
  'x'.repeat(5000),
  'a'.repeat(10) + ':' + 'b'.repeat(10),
];

const inRange = (id: string, r: { $gte: string; $lt: string }): boolean => id >= r.$gte && id < r.$lt;

describe('encodeIdPart', () => {
  it('never contains the separator and round-trips', () => {
    for (const s of hostile) {
      const e = encodeIdPart(s);
      expect(e).not.toContain(':');
      expect(decodeIdPart(e)).toBe(s);
    }
  });

  it('is injective on hostile ids', () => {
    const encoded = new Set(hostile.map(encodeIdPart));
    expect(encoded.size).toBe(new Set(hostile).size);
  });

  it('keeps uuid6 checkpoint ids unchanged, so _id order is checkpoint order', () => {
    const id = '1ef8a2b4-5c6d-6e7f-8a9b-0c1d2e3f4a5b';
    expect(encodeIdPart(id)).toBe(id);
  });

  it('encodes lone surrogates, which UTF-8 storage would otherwise merge into U+FFFD', () => {
    expect(encodeIdPart('\ud800')).not.toBe(encodeIdPart('\udc00'));
    expect(Buffer.from(encodeIdPart('\ud800'), 'utf8').toString('utf8')).toBe(encodeIdPart('\ud800'));
  });
});

describe('ids', () => {
  it('no two (thread, ns, checkpoint) tuples collide', () => {
    const seen = new Map<string, string>();
    for (const t of hostile.slice(0, 12)) {
      for (const ns of ['', 'a', 'a:b', ':']) {
        for (const c of ['', 'b', ':b']) {
          const id = ids.checkpoint(t, ns, c);
          const tuple = JSON.stringify([t, ns, c]);
          expect(seen.get(id) ?? tuple).toBe(tuple);
          seen.set(id, tuple);
        }
      }
    }
  });

  it('blob versions 1 and "1" are different documents', () => {
    expect(ids.blob('t', '', 'c', 1)).not.toBe(ids.blob('t', '', 'c', '1'));
    expect(decodeVersion(encodeVersion(1))).toBe(1);
    expect(decodeVersion(encodeVersion('00:1.5'))).toBe('00:1.5');
  });

  it('a thread range selects exactly that thread, whatever the other ids look like', () => {
    for (const t of hostile) {
      const r = idRange('cp', t);
      for (const other of hostile) {
        for (const ns of ['', 'x', 'x:y']) {
          expect(inRange(ids.checkpoint(other, ns, 'c1'), r)).toBe(other === t);
        }
      }
    }
  });

  it('a (thread, ns) range selects exactly that namespace', () => {
    const r = idRange('cp', 'a:b', '');
    expect(inRange(ids.checkpoint('a:b', '', 'c'), r)).toBe(true);
    expect(inRange(ids.checkpoint('a:b', 'x', 'c'), r)).toBe(false);
    expect(inRange(ids.checkpoint('a', 'b', 'c'), r)).toBe(false);
    expect(inRange(ids.checkpoint('a', 'b:', 'c'), r)).toBe(false);
  });

  it('a writes range selects one checkpoint, and special (negative) idx stay inside it', () => {
    const r = idRange('w', 't', '', 'c1');
    expect(inRange(ids.write('t', '', 'c1', 'task', -1), r)).toBe(true);
    expect(inRange(ids.write('t', '', 'c1', 'task:x', 3), r)).toBe(true);
    expect(inRange(ids.write('t', '', 'c10', 'task', 3), r)).toBe(false);
  });
});
