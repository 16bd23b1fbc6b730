#!/usr/bin/env node
/** The `threadlog` command line. Each command lives in its own file beside this one. */
import { Command } from 'commander';
import { parseEnv } from './env.ts';
import { runStackScript } from './stack.ts';
import { healthCommand } from './health.ts';
import { demoCommand } from './demo.ts';
import { registerImport } from './import.ts';
import { registerRebuild } from './rebuild.ts';
import { registerOperatorCommands } from './operator-commands.ts';
import { registerUi } from './ui.ts';
import { registerSecurityCommands } from './security.ts';

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

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
  return n;
};

const niceness = (v: string): number => {
  const n = int(v);
  if (n > 19) throw new Error(`expected a niceness 0-19, got '${v}'`);
  return n;
};

program
  .command('demo')
  .description('start the local stack and a projector, run a fleet of agents through a LangGraph graph, summarize')
  .option('--agents <n>', 'concurrent agents (threads)', int, 20)
  .option('--turns <n>', 'user turns per agent', int, 5)
  .option('--message-bytes <n>', 'approximate size of each message', int, 400)
  .option('--tool-calls <n>', 'tool calls per turn', int, 1)
  .option('--review-every <n>', 'interrupt for a human review every Nth turn (0: never)', int, 3)
  .option('--think-ms <n>', 'each agent step waits about this long (½× to 1½×), as a model call would (0: agents run flat out)', int, 0)
  .option('--projector-nice <n>', 'CPU niceness of the projector process, 0-19 (production runs it on other machines; 0: the agents\' priority)', niceness, 10)
  .option('--json', 'print the summary as JSON')
  .action(async (opts: { agents: number; turns: number; messageBytes: number; toolCalls: number; reviewEvery: number; thinkMs: number; projectorNice: number; json?: boolean }) => {
    process.exitCode = await demoCommand(parseEnv(), { ...opts, json: opts.json ?? false });
  });

registerOperatorCommands(program);

registerImport(program);
registerRebuild(program);
registerUi(program);
registerSecurityCommands(program);

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`threadlog: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
