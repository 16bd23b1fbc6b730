#!/usr/bin/env node
/** The `threadlog` command line. Each command lives in its own file beside this one. */
import { Command } from 'commander';
import { parseEnv } from './env.ts';
import { runStackScript } from './stack.ts';
import { healthCommand } from './health.ts';

const program = new Command()
  .name('threadlog')
  .description('Event-sourced checkpoint store for AI-agent threads: Kafka log, MongoDB projection, Redis cache.')
  .showHelpAfterError();

program
  .command('up')
  .description('start the local stack (Kafka, FerretDB, Redis); installs or builds what is missing')
  .action(() => runStackScript('up'));
program.command('down').description('stop the local stack').action(() => runStackScript('down'));
program.command('status').description('show what of the local stack runs').action(() => runStackScript('status'));

program
  .command('health')
  .description('ping Kafka, MongoDB and Redis')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    process.exitCode = await healthCommand(parseEnv(), opts);
  });

program
  .command('projector')
  .description('run a projector: Kafka log -> MongoDB projection + Redis cache, ops endpoint on THREADLOG_OPS_PORT')
  .action(async () => {
    const { runProjector } = await import('../../consumers/projector.ts');
    process.exitCode = await runProjector(parseEnv());
  });

program
  .command('demo')
  .description('start the local stack and run the demo against it')
  .action(async () => {
    await runStackScript('up');
    process.exitCode = await healthCommand(parseEnv(), {});
  });

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`threadlog: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
