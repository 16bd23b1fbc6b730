/**
 * Parent side of a cell: the names it gets, what its storage weighs, and the removal of
 * everything it made (databases, topics, consumer groups, Redis keys, files).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import type { MongoClient } from 'mongodb';
import { checkpointsTopic } from '../../src/kafka/topics.ts';
import type { PgServer } from './postgres.ts';
import type { SaverKind } from './types.ts';

export interface Shared {
  root: string;
  mongo: MongoClient;
  redis: Redis;
  admin: Admin;
  pg: PgServer | undefined;
  /** Kafka's log.dirs, when it is on this machine (local stack) */
  kafkaLogDirs: string[];
  /** a private FerretDB this run started (its CPU is then the cell's alone) */
  ferretPid?: number | undefined;
}

export interface CellResources {
  ns: string;
  pgUrl?: string;
  sqliteDir?: string;
  sqlitePath?: string;
}

export async function createCellResources(s: Shared, kind: SaverKind, ns: string): Promise<CellResources> {
  if (kind === 'postgres') {
    if (!s.pg) throw new Error('postgres: no server');
    return { ns, pgUrl: await s.pg.createDatabase(ns) };
  }
  if (kind === 'sqlite') {
    const sqliteDir = mkdtempSync(path.join(tmpdir(), `${ns}-`));
    return { ns, sqliteDir, sqlitePath: path.join(sqliteDir, 'checkpoints.db') };
  }
  return { ns };
}

/** Bytes of every document in a database, as BSON (what MongoDB's dataSize counts). */
async function bsonBytes(mongo: MongoClient, dbName: string): Promise<number> {
  const db = mongo.db(dbName);
  let total = 0;
  for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
    if (c.name.startsWith('system.')) continue;
    for await (const doc of db.collection(c.name).find({}, { raw: true })) total += (doc as unknown as Buffer).length;
  }
  return total;
}

/** Sizes of the topic's segment files (.log) in Kafka's data directories. */
export function kafkaTopicBytes(s: Shared, topic: string): number | undefined {
  if (s.kafkaLogDirs.length === 0) return undefined;
  let total = 0;
  for (const dir of s.kafkaLogDirs) {
    for (const d of readdirSync(dir)) {
      if (!d.startsWith(`${topic}-`) || !/^\d+$/.test(d.slice(topic.length + 1))) continue;
      for (const f of readdirSync(path.join(dir, d))) if (f.endsWith('.log')) total += statSync(path.join(dir, d, f)).size;
    }
  }
  return total;
}

export interface Storage {
  bytes: number | undefined;
  kafkaLogBytes?: number;
}

export async function measureStorage(s: Shared, kind: SaverKind, r: CellResources): Promise<Storage> {
  switch (kind) {
    case 'memory':
      return { bytes: undefined };
    case 'sqlite':
      return { bytes: r.sqlitePath && existsSync(r.sqlitePath) ? statSync(r.sqlitePath).size : undefined };
    case 'postgres':
      return { bytes: await s.pg!.relationBytes(r.ns) };
    case 'mongodb':
      return { bytes: await bsonBytes(s.mongo, r.ns) };
    case 'threadlog': {
      const kafkaLogBytes = kafkaTopicBytes(s, checkpointsTopic(r.ns));
      return { bytes: await bsonBytes(s.mongo, r.ns), ...(kafkaLogBytes === undefined ? {} : { kafkaLogBytes }) };
    }
  }
}

async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** Removes what a cell made; every step is attempted even when an earlier one fails. */
export async function removeCellResources(s: Shared, kind: SaverKind, r: CellResources): Promise<void> {
  const errors: unknown[] = [];
  // bounded: a wedged server must not hang the run
  const attempt = async (f: () => Promise<unknown>): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([f(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('clean-up step timed out after 30 s')), 30_000)))]);
    } catch (e) {
      errors.push(e);
    } finally {
      clearTimeout(timer);
    }
  };
  if (kind === 'postgres') await attempt(() => s.pg!.dropDatabase(r.ns));
  if (kind === 'sqlite' && r.sqliteDir) await attempt(async () => rmSync(r.sqliteDir!, { recursive: true, force: true }));
  if (kind === 'mongodb' || kind === 'threadlog') await attempt(() => s.mongo.db(r.ns).dropDatabase());
  if (kind === 'threadlog') {
    await attempt(() => deleteRedisPrefix(s.redis, `${r.ns}:`));
    await attempt(async () => {
      const topics = (await s.admin.listTopics()).filter((t) => t.startsWith(`${r.ns}.`) || t === r.ns);
      if (topics.length > 0) await s.admin.deleteTopics({ topics, timeout: 30_000 });
    });
    await attempt(async () => {
      const { groups } = await s.admin.listGroups();
      const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(`${r.ns}.`));
      if (mine.length > 0) await s.admin.deleteGroups(mine);
    });
  }
  if (errors.length > 0) throw new AggregateError(errors, `clean-up of ${r.ns} (${kind}) failed`);
}
