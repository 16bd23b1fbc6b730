import { describe, expect, it } from 'vitest';
import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { appendedElements, concatJsonArray, countJsonElements, isJsonArray, splitJsonElements } from '../../src/events/json-list.ts';
import { rng } from '../projection/fixtures.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const serde = new JsonPlusSerializer();
const dumps = async (v: unknown): Promise<Uint8Array> => (await serde.dumpsTyped(v))[1];

describe('JSON arrays as bytes', () => {
  it('splits top-level elements, whatever strings, escapes and nesting they hold', () => {
    const inner = '"a,b",{"x":[1,2,{"y":"]}"}]},"q\\"uote,",[],null,-1.5e3';
    expect(splitJsonElements(enc(inner))?.map(dec)).toEqual(['"a,b"', '{"x":[1,2,{"y":"]}"}]}', '"q\\"uote,"', '[]', 'null', '-1.5e3']);
    expect(splitJsonElements(enc(''))).toEqual([]);
    for (const bad of ['1,', ',1', '1,,2', '{"a":1', '"open', '1]']) expect(splitJsonElements(enc(bad)), bad).toBeUndefined();
    expect(countJsonElements(enc('[1,[2,3],"4"]'))).toBe(3);
    expect(countJsonElements(enc('[]'))).toBe(0);
    expect(isJsonArray(enc(' [1]'))).toBe(false);
  });

  it('finds what was appended, and only when the old list is a byte prefix of the new one', () => {
    expect(appendedElements(enc('[1,2]'), 2, enc('[1,2,3,"x,y"]'))?.map(dec)).toEqual(['3', '"x,y"']);
    expect(appendedElements(enc('[]'), 0, enc('[{"a":1}]'))?.map(dec)).toEqual(['{"a":1}']);
    expect(appendedElements(enc('[1,2]'), 2, enc('[1,2]'))).toEqual([]);
    expect(appendedElements(enc('[1,2]'), 2, enc('[1,23]'))).toBeUndefined(); // last element changed
    expect(appendedElements(enc('[1,2]'), 2, enc('[1,3,4]'))).toBeUndefined();
    expect(appendedElements(enc('[1,2,3]'), 3, enc('[1,2]'))).toBeUndefined();
    expect(appendedElements(enc('"s"'), 0, enc('[1]'))).toBeUndefined();
  });

  it('concatenation parses to the list grown, for values the JSON serializer writes (seeded)', async () => {
    const r = rng(7);
    const value = (i: number): unknown => {
      const k = Math.floor(r() * 5);
      return k === 0 ? `m${i} "quoted", [bracketed] {braced}\\` : k === 1 ? { role: 'ai', content: `c${i}`, tool_calls: [{ id: i, args: { a: [1, { b: null }] } }] } : k === 2 ? i * 1.5 : k === 3 ? [i, [i]] : new Map([[`k${i}`, new Set([i])]]);
    };
    const list: unknown[] = [];
    let bytes = await dumps(list);
    for (let step = 0; step < 40; step++) {
      const added = Array.from({ length: Math.floor(r() * 3) }, (_, j) => value(step * 10 + j));
      const next = [...list, ...added];
      const nextBytes = await dumps(next);
      const found = appendedElements(bytes, list.length, nextBytes);
      expect(found?.length, `step ${step}`).toBe(added.length);
      const joined = concatJsonArray(bytes, list.length, found!);
      expect(await serde.loadsTyped('json', joined)).toEqual(await serde.loadsTyped('json', nextBytes));
      list.push(...added);
      bytes = nextBytes;
    }
  });
});
