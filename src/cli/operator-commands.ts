/**
 * The auditor and operator commands (timeline, audit, replay, lag, prune), registered on the
 * `threadlog` program by main.ts. Each command's logic lives in its own file beside this one.
 */
import type { Command } from 'commander';
import { parseEnv } from './env.ts';
import { processOutput } from './context.ts';

export function registerOperatorCommands(program: Command): void {
  program
    .command('timeline')
    .description("a thread's events in log order, read from Kafka (not the projection)")
    .argument('<thread>', 'thread id')
    .option('--ns <ns>', 'only this checkpoint namespace ("" is the root graph)')
    .option('--from <point>', 'start at a checkpoint id or an ISO time')
    .option('--to <point>', 'end at a checkpoint id (its pending writes included) or an ISO time')
    .option('--json', 'machine-readable output')
    .action(async (thread: string, opts: { ns?: string; from?: string; to?: string; json?: boolean }) => {
      const { timelineCommand } = await import('./timeline.ts');
      process.exitCode = await timelineCommand(parseEnv(), thread, opts, processOutput(opts.json ?? false));
    });

  program
    .command('audit')
    .description('check the projection against the log: hash chain and document contents; exit 1 on divergence')
    .argument('[thread]', 'thread id')
    .option('--all', 'audit every thread that has a hash chain in the generation')
    .option('--json', 'machine-readable output (lists every divergence)')
    .action(async (thread: string | undefined, opts: { all?: boolean; json?: boolean }) => {
      const { auditCommand } = await import('./audit.ts');
      process.exitCode = await auditCommand(parseEnv(), thread, opts, processOutput(opts.json ?? false));
    });

  program
    .command('replay')
    .description("a thread's state at a checkpoint or time, rebuilt from the log alone (no projection needed)")
    .argument('<thread>', 'thread id')
    .requiredOption('--to <point>', 'a checkpoint id, or an ISO time (the newest checkpoint at or before it)')
    .option('--ns <ns>', 'checkpoint namespace', '')
    .option('--into <thread>', 'write that state as the first checkpoint of this new thread')
    .option('--json', 'machine-readable output')
    .action(async (thread: string, opts: { to: string; ns: string; into?: string; json?: boolean }) => {
      const { replayCommand } = await import('./replay.ts');
      process.exitCode = await replayCommand(parseEnv(), thread, opts, processOutput(opts.json ?? false));
    });

  program
    .command('lag')
    .description("per partition: log end offset, the projector group's committed offset, the projection's applied offset, lag")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { lagCommand } = await import('./lag.ts');
      process.exitCode = await lagCommand(parseEnv(), opts, processOutput(opts.json ?? false));
    });

  program
    .command('prune')
    .description('remove old checkpoints from the projection (never from the log), keeping what reads, interrupts and pending writes need')
    .argument('[thread]', 'thread id (default with --older-than: every thread with a hash chain)')
    .option('--older-than <duration>', 'only checkpoints saved longer ago than this, e.g. 30d, 12h')
    .option('--keep <n>', 'newest checkpoints kept per (thread, namespace)', (v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--keep expects an integer >= 1, got '${v}'`);
      return n;
    }, 1)
    .option('--dry-run', 'show what would be removed')
    .option('--json', 'machine-readable output')
    .action(async (thread: string | undefined, opts: { olderThan?: string; keep: number; dryRun?: boolean; json?: boolean }) => {
      const { pruneCommand } = await import('./prune.ts');
      process.exitCode = await pruneCommand(parseEnv(), thread, opts, processOutput(opts.json ?? false));
    });
}
