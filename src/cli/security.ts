/**
 * `threadlog erase <thread>` (crypto-shredding, README "Security") and `threadlog keys rotate`
 * (re-wrap every thread's data key with a new master key; the log is not touched). Both need
 * the master key from the environment (THREADLOG_MASTER_KEY_FILE or THREADLOG_MASTER_KEY).
 */
import type { Command } from 'commander';
import { createLocalKeyProvider } from '../crypto/key-provider.ts';
import { rotateMasterKey } from '../crypto/rotate.ts';
import { createThreadKeys, type ThreadKeys } from '../crypto/thread-keys.ts';
import type { Db } from 'mongodb';
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { createMongoKeyStore } from '../mongo/key-store.ts';
import { openOpsContext } from '../ops/context.ts';
import { processOutput, type Output } from './context.ts';
import { parseEnv, type ThreadlogEnv } from './env.ts';

/** the thread keys the environment's master key opens (undefined: no master key configured) */
export function threadKeysFromEnv(env: ThreadlogEnv, db: Db): ThreadKeys | undefined {
  if (env.masterKey === undefined) return undefined;
  return createThreadKeys({ store: createMongoKeyStore(db), provider: createLocalKeyProvider(env.masterKey), previous: env.previousMasterKeys.map((k) => createLocalKeyProvider(k)) });
}

async function run(io: Output, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (!isThreadlogError(e)) throw e;
    io.err(`threadlog: ${e.message}\n`);
    return 2;
  }
}

export async function eraseCommand(env: ThreadlogEnv, threadId: string, opts: { json?: boolean; timeoutMs?: number }, io: Output): Promise<number> {
  return run(io, async () => {
    const ctx = await openOpsContext(env, 'threadlog-erase');
    try {
      const store = await ctx.openStore();
      if (!opts.json) io.err(`erasing thread ${threadId}: destroying its data key, logging the erasure, clearing caches…\n`);
      const r = await store.eraseThread(threadId, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
      if (opts.json) {
        io.out(JSON.stringify(r, null, 2) + '\n');
        return 0;
      }
      const at = new Date(r.erasedAt).toISOString();
      io.out(`${threadId}: ${r.alreadyErased ? 'was already erased' : 'erased'} at ${at}; thread-erased event at partition ${r.position.partition} offset ${r.position.offset}\n`);
      if (r.hadNoKey) io.out('note: the thread had no data key: whatever it wrote before encryption was on stays plaintext in the log\n');
      if (!r.projected) io.out('the projection has not applied the erasure yet (no projector running?): reads already answer not found; a projector removes the documents when it catches up\n');
      return 0;
    } finally {
      await ctx.close();
    }
  });
}

export async function rotateCommand(env: ThreadlogEnv, opts: { json?: boolean }, io: Output): Promise<number> {
  return run(io, async () => {
    if (env.masterKey === undefined) {
      throw new ThreadlogError('encryption-disabled', 'keys rotate needs the new master key in THREADLOG_MASTER_KEY_FILE (or THREADLOG_MASTER_KEY) and the old ones in THREADLOG_PREVIOUS_MASTER_KEY_FILES');
    }
    const to = createLocalKeyProvider(env.masterKey);
    const from = env.previousMasterKeys.map((k) => createLocalKeyProvider(k));
    const ctx = await openOpsContext(env, 'threadlog-keys');
    try {
      const r = await rotateMasterKey({
        store: createMongoKeyStore(ctx.db),
        to,
        from,
        onProgress: (p) => {
          if (!opts.json) io.err(`re-wrapped ${p.rewrapped} keys\n`);
        },
      });
      io.out(opts.json ? JSON.stringify({ masterKeyId: to.keyId, ...r }, null, 2) + '\n' : `every data key is now wrapped by ${to.keyId}: ${r.rewrapped} re-wrapped, ${r.skipped} changed meanwhile (erased or re-wrapped elsewhere)\n`);
      return 0;
    } finally {
      await ctx.close();
    }
  });
}

export function registerSecurityCommands(program: Command): void {
  program
    .command('erase')
    .description("crypto-shred a thread: destroy its data key, log a thread-erased event, remove it from the projection and caches (needs THREADLOG_MASTER_KEY_FILE)")
    .argument('<thread>', 'thread id')
    .option('--timeout-ms <ms>', 'how long to wait for the projection to apply the erasure', (v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--timeout-ms expects a non-negative integer, got '${v}'`);
      return n;
    })
    .option('--json', 'machine-readable output')
    .action(async (thread: string, opts: { json?: boolean; timeoutMs?: number }) => {
      process.exitCode = await eraseCommand(parseEnv(), thread, opts, processOutput(opts.json ?? false));
    });
  program
    .command('keys')
    .description('data-key administration')
    .command('rotate')
    .description('re-wrap every thread key with THREADLOG_MASTER_KEY_FILE, unwrapping with THREADLOG_PREVIOUS_MASTER_KEY_FILES; the log is not touched')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      process.exitCode = await rotateCommand(parseEnv(), opts, processOutput(opts.json ?? false));
    });
}
