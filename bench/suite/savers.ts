/**
 * The five savers as a user would construct them (child side). Each `close()` releases only
 * what that saver opened; the data stays for the parent to measure and then remove.
 */
import { MemorySaver, type BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { MongoDBSaver } from '@langchain/langgraph-checkpoint-mongodb';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { MongoClient } from 'mongodb';
import { createCheckpointStore } from '../../src/index.ts';
import { ThreadlogSaver } from '../../src/langgraph/saver.ts';
import type { CellTarget, SaverKind } from './types.ts';

export interface BenchSaver {
  saver: BaseCheckpointSaver;
  /** make everything written so far durable where the parent measures it */
  settle(threadIds: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function openSaver(kind: SaverKind, t: CellTarget): Promise<BenchSaver> {
  switch (kind) {
    case 'memory':
      return { saver: new MemorySaver(), settle: async () => undefined, close: async () => undefined };
    case 'sqlite': {
      if (!t.sqlitePath) throw new Error('sqlite: no file');
      const saver = SqliteSaver.fromConnString(t.sqlitePath);
      return {
        saver,
        // fold the WAL into the main file so the file size is the data, counted once
        settle: async () => void saver.db.pragma('wal_checkpoint(TRUNCATE)'),
        close: async () => void saver.db.close(),
      };
    }
    case 'postgres': {
      if (!t.pgUrl) throw new Error('postgres: no url');
      const saver = PostgresSaver.fromConnString(t.pgUrl);
      await saver.setup();
      return { saver, settle: async () => undefined, close: () => saver.end() };
    }
    case 'mongodb': {
      // no driver compression: FerretDB does not support it
      const client = new MongoClient(t.mongoUrl);
      await client.connect();
      const saver = new MongoDBSaver({ client, dbName: t.ns });
      await saver.setup(); // indexes; returns (does not throw) what FerretDB refused
      return { saver, settle: async () => undefined, close: () => client.close() };
    }
    case 'threadlog': {
      // the projector runs as its own process (started by the parent with the same names)
      const store = await createCheckpointStore({
        kafka: { brokers: t.brokers },
        mongo: { url: t.mongoUrl },
        redis: { url: t.redisUrl },
        dbName: t.ns,
        topicPrefix: t.ns,
        partitions: t.partitions,
        redisKeyPrefix: `${t.ns}:`,
        embeddedProjector: false,
        readTimeoutMs: 30_000,
      });
      const saver = new ThreadlogSaver({ store, ownsStore: true });
      return {
        saver,
        // wait until the projector applied everything up to the end of each thread's partition
        settle: async (threadIds) => {
          for (const threadId of threadIds) await store.load({ threadId }, { consistency: 'strong', timeoutMs: 120_000 });
        },
        close: () => saver.close(),
      };
    }
  }
}
