/**
 * A `session` list of a thread this instance wrote merges its own checkpoints into what the
 * projection lists: it reads the projection only down to where its own checkpoints already
 * fill the limit (one query for a long own thread, not one per page of the whole thread),
 * and still places another writer's projected checkpoints where they belong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import type { CheckpointStore } from '../../src/index.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, collect, openStore, startProjector } from './helpers.ts';

const stack = useIsolatedStack();
let client: MongoClient;
let a: CheckpointStore;
let b: CheckpointStore;
const finds: string[] = [];

beforeAll(async () => {
  client = new MongoClient(stack.endpoints.mongoUrl, { monitorCommands: true });
  client.on('commandStarted', (e: CommandStartedEvent) => {
    if (e.commandName === 'find' && String(e.command.find).endsWith('checkpoints')) finds.push(JSON.stringify(e.command.filter));
  });
  await client.connect();
  a = await openStore(stack, { mongo: client, pageSize: 20 });
  b = await openStore(stack);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await client?.close();
});

const ids = (xs: Array<{ checkpointId: string }>) => xs.map((x) => x.checkpointId);

describe('session list of an own thread', () => {
  it('reads one page of the projection, not the whole thread, when own checkpoints fill the limit', async () => {
    const threadId = stack.unique('own-list');
    const saved: string[] = [];
    let parent: string | undefined;
    for (let step = 1; step <= 45; step++) {
      const cp = checkpoint({ step }, step);
      await a.save({ threadId, checkpoint: cp, ...(parent === undefined ? {} : { parentCheckpointId: parent }) });
      saved.push(cp.id);
      parent = cp.id;
    }
    const projector = await startProjector(stack);
    expect((await b.load({ threadId }, { consistency: 'strong' }))?.checkpointId).toBe(parent);
    await projector.stop();
    // one more, not projected: the list merges the own record into the projection
    const last = checkpoint({ step: 46 }, 46);
    await a.save({ threadId, checkpoint: last, parentCheckpointId: parent });
    saved.push(last.id);

    finds.length = 0;
    expect(ids(await collect(a.list({ threadId, limit: 5 })))).toEqual(saved.slice(-5).reverse());
    // 45 projected checkpoints in pages of 20 were three queries
    expect(finds).toHaveLength(1);
    // a list longer than the own record covers (it keeps the newest 32) pages on as before
    finds.length = 0;
    expect(ids(await collect(a.list({ threadId, limit: 40 })))).toEqual(saved.slice(-40).reverse());
    expect(finds.length).toBeGreaterThanOrEqual(2);
    expect(ids(await collect(a.list({ threadId })))).toEqual([...saved].reverse());
  });

  it('another writer\'s projected checkpoint lands in its place among the own ones', async () => {
    const threadId = stack.unique('own-list-mixed');
    // uuid6 ids sort by creation: theirs falls between the 6th and the 7th own checkpoint
    const first = Array.from({ length: 6 }, (_, i) => checkpoint({ who: 'a', i }, i + 1));
    const theirs = checkpoint({ who: 'b' }, 100);
    const mine = [...first, ...Array.from({ length: 2 }, (_, i) => checkpoint({ who: 'a', i: 6 + i }, 7 + i))];
    const all = [...first, theirs, ...mine.slice(6)];
    expect([...all].sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(all);
    const projector = await startProjector(stack);
    for (const cp of first) await a.save({ threadId, checkpoint: cp });
    await b.save({ threadId, checkpoint: theirs });
    expect((await b.load({ threadId, checkpointId: theirs.id }, { consistency: 'strong' }))?.checkpointId).toBe(theirs.id);
    await projector.stop();
    // the last two only in a's record
    for (const cp of mine.slice(6)) await a.save({ threadId, checkpoint: cp });
    const newest = all.map((c) => c.id).reverse();
    for (const limit of [2, 4, 5, 9]) expect(ids(await collect(a.list({ threadId, limit })))).toEqual(newest.slice(0, limit));
  });
});
