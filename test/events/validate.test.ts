import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { describe, expect, it } from 'vitest';
import { isThreadlogError, type ThreadlogErrorCode } from '../../src/errors.ts';
import {
  createEventCodec,
  serializeValue,
  validateCheckpointId,
  validateCheckpointNs,
  validateEvent,
  validateThreadId,
  type ThreadlogEvent,
} from '../../src/events/index.ts';
import { checkpointEvent, deletedEvent, json, plain, writesEvent } from './fixtures.ts';

const codec = createEventCodec();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(isThreadlogError(e), String(e)).toBe(true);
    return (e as { code: string }).code;
  }
  return undefined;
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => {
      expect(isThreadlogError(e), String(e)).toBe(true);
      return (e as { code: string }).code;
    },
  );
}

const hostileIds = [
  'with "double" and \'single\' quotes',
  'colons:in:the:id::',
  '{braces}[brackets](parens)',
  'emoji 🧵🚀 and 中文 and ñ',
  '\\back\\slashes/and/slashes',
  'cp:thread:ns:id',
  '{thread}',
  '  spaces  ',
  '$where: 1, "$gt": ""',
  'a'.repeat(1024),
  'é'.repeat(512), // 1024 UTF-8 bytes in 512 characters
];

describe('thread ids', () => {
  it.each(hostileIds)('accepts and round-trips %j', async (threadId) => {
    expect(codeOf(() => validateThreadId(threadId))).toBeUndefined();
    const event = checkpointEvent({ threadId });
    const [r] = await codec.encode(event);
    expect(r!.key).toBe(threadId);
    const decoded = await codec.decode({ key: Buffer.from(r!.key), value: r!.value, headers: r!.headers });
    expect(plain(decoded)).toEqual(plain(event));
  });

  it('rejects missing, empty, non-string and over-long ids', () => {
    for (const bad of [undefined, null, '', 42, {}, ['a'], 'a'.repeat(1025), 'é'.repeat(512) + 'a', '🧵'.repeat(257)]) {
      expect(codeOf(() => validateThreadId(bad)), JSON.stringify(bad)?.slice(0, 20)).toBe('invalid-thread-id');
    }
  });

  it('rejects lone surrogates, which cannot survive UTF-8', () => {
    expect(codeOf(() => validateThreadId('bad\ud800id'))).toBe('invalid-thread-id');
    expect(codeOf(() => validateThreadId('ok\ud83e\uddf5id'))).toBeUndefined();
  });

  it('the limit is configurable', async () => {
    const strict = createEventCodec({ maxThreadIdBytes: 8 });
    expect(await asyncCodeOf(strict.encode(deletedEvent({ threadId: '123456789' })))).toBe('invalid-thread-id');
    expect(await asyncCodeOf(strict.encode(deletedEvent({ threadId: '12345678' })))).toBeUndefined();
    expect(codeOf(() => validateThreadId('a'.repeat(2000), { maxThreadIdBytes: 4096, maxCheckpointIdBytes: 1, maxCheckpointNsBytes: 1 }))).toBeUndefined();
  });
});

describe('validation at the door: every failure has its own code, nothing is encoded', () => {
  const cases: [string, () => ThreadlogEvent, ThreadlogErrorCode][] = [
    ['missing thread id', () => ({ ...deletedEvent(), threadId: undefined as unknown as string }), 'invalid-thread-id'],
    ['empty checkpoint id', () => checkpointEvent({ checkpointId: '' }), 'invalid-checkpoint-id'],
    ['missing checkpoint id on writes', () => ({ ...writesEvent(), checkpointId: undefined as unknown as string }), 'invalid-checkpoint-id'],
    ['empty parent checkpoint id', () => checkpointEvent({ parentCheckpointId: '' }), 'invalid-checkpoint-id'],
    ['namespace not a string', () => checkpointEvent({ checkpointNs: null as unknown as string }), 'invalid-checkpoint-ns'],
    ['namespace not a string on writes', () => writesEvent({ checkpointNs: 3 as unknown as string }), 'invalid-checkpoint-ns'],
    ['checkpoint header not an object', () => checkpointEvent({ checkpoint: 'x' as never }), 'invalid-checkpoint'],
    ['checkpoint header id differs', () => checkpointEvent({ checkpoint: { ...checkpointEvent().checkpoint, id: 'other' } }), 'invalid-checkpoint'],
    ['checkpoint header without channel_versions', () => {
      const { channel_versions: _omit, ...rest } = checkpointEvent().checkpoint;
      return checkpointEvent({ checkpoint: rest as never });
    }, 'invalid-checkpoint'],
    ['checkpoint header with a bad version', () => checkpointEvent({ checkpoint: { ...checkpointEvent().checkpoint, versions_seen: { a: { b: {} } } } as never }), 'invalid-checkpoint'],
    ['checkpoint header carrying channel_values', () => checkpointEvent({ checkpoint: { ...checkpointEvent().checkpoint, channel_values: {} } }), 'invalid-checkpoint'],
    ['metadata not an object', () => checkpointEvent({ metadata: [] as never }), 'invalid-checkpoint'],
    ['value version not in channel_versions', () => checkpointEvent({ values: [{ kind: 'snapshot', channel: 'counter', version: 99, value: json(1) }] }), 'invalid-checkpoint'],
    ['value of unknown kind', () => checkpointEvent({ values: [{ kind: 'patch', channel: 'counter', version: '0003.0.42' } as never] }), 'invalid-checkpoint'],
    ['unknown event type', () => ({ ...deletedEvent(), type: 'thread-archived' as never }), 'unknown-event-type'],
    ['missing event id', () => deletedEvent({ eventId: '' }), 'invalid-event'],
    ['non-finite ts', () => deletedEvent({ ts: Number.NaN }), 'invalid-event'],
    ['writes with a bad idx', () => writesEvent({ writes: [{ idx: 0.5, channel: 'x', value: json(1) }] }), 'invalid-event'],
    ['value not serialized', () => writesEvent({ writes: [{ idx: 0, channel: 'x', value: { type: 'json', value: 'raw' as never } }] }), 'not-serializable'],
    ['metadata with a BigInt', () => checkpointEvent({ metadata: { n: 1n } }), 'not-serializable'],
    ['circular metadata', () => {
      const metadata: Record<string, unknown> = {};
      metadata.self = metadata;
      return checkpointEvent({ metadata });
    }, 'not-serializable'],
  ];

  it.each(cases)('%s', async (_name, make, code) => {
    expect(await asyncCodeOf(codec.encode(make()))).toBe(code);
  });

  it('the pieces are usable alone', () => {
    expect(codeOf(() => validateCheckpointId(undefined))).toBe('invalid-checkpoint-id');
    expect(codeOf(() => validateCheckpointNs(''))).toBeUndefined();
    expect(codeOf(() => validateCheckpointNs(undefined))).toBe('invalid-checkpoint-ns');
    expect(codeOf(() => validateEvent(null))).toBe('invalid-event');
    expect(codeOf(() => validateEvent(checkpointEvent()))).toBeUndefined();
  });

  it('a root checkpoint has no parent (undefined, or null from JS callers)', async () => {
    for (const parentCheckpointId of [undefined, null as unknown as undefined]) {
      const [r] = await codec.encode(checkpointEvent({ parentCheckpointId }));
      const decoded = await codec.decode(r!);
      expect(decoded.type === 'checkpoint' && decoded.parentCheckpointId).toBeUndefined();
    }
  });
});

describe('serializeValue', () => {
  const serializer = new JsonPlusSerializer();

  it('turns BigInt and circular values into not-serializable, where JsonPlus would silently write a placeholder', async () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    expect(await asyncCodeOf(serializeValue(serializer, { n: 10n }))).toBe('not-serializable');
    expect(await asyncCodeOf(serializeValue(serializer, [circular]))).toBe('not-serializable');
    expect(await asyncCodeOf(codec.serialize(new Map([['k', circular]])))).toBe('not-serializable');
  });

  it('a serializer that throws maps to not-serializable', async () => {
    const throwing = { dumpsTyped: () => Promise.reject(new Error('nope')), loadsTyped: () => Promise.resolve(null) };
    expect(await asyncCodeOf(serializeValue(throwing, 1))).toBe('not-serializable');
  });

  it('a literal "[Circular]" string or a shared (non-circular) object is fine', async () => {
    const shared = { x: 1 };
    expect(await asyncCodeOf(serializeValue(serializer, { s: '[Circular]', a: shared, b: shared }))).toBeUndefined();
  });
});

describe('ids every store layer can hold', () => {
  it('refuses NUL and lone surrogates in thread ids, accepts paired surrogates', async () => {
    const { validateThreadId } = await import('../../src/events/validate.ts');
    expect(() => validateThreadId('a\u0000b')).toThrow(/NUL/);
    expect(() => validateThreadId('a\uD800b')).toThrow(/surrogate/);
    expect(() => validateThreadId('a\uDC00')).toThrow(/surrogate/);
    expect(() => validateThreadId('thread 🧵')).not.toThrow();
  });
});
