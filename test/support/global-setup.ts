/**
 * Integration tests run against the real local stack. If any service does not answer, run
 * `infra/stack.sh up` (idempotent) and probe again; if it still does not answer, fail — never
 * skip — naming the service and its log file.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { stackEndpoints, type StackEndpoints } from './env.ts';
import { probeServices, type ServiceName } from './probe.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export default async function setup(project: TestProject): Promise<void> {
  const ep = stackEndpoints();
  let down = await failing(ep);
  if (down.length > 0) {
    try {
      await run('bash', [path.join(root, 'infra/stack.sh'), 'up'], { cwd: root, timeout: 15 * 60_000 });
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr ?? String(e);
      throw new Error(`the local stack could not be started (infra/stack.sh up):\n${stderr}`);
    }
    // A broker that just opened its port may still be electing its controller.
    const deadline = Date.now() + 60_000;
    do {
      down = await failing(ep);
      if (down.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    } while (Date.now() < deadline);
  }
  if (down.length > 0) {
    const logs = path.join(process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local'), 'logs');
    throw new Error(
      'integration tests need the local stack; not reachable: ' +
        down.map(([name, why]) => `${name} (${why}; log: ${path.join(logs, `${name}.log`)})`).join(', '),
    );
  }
  project.provide('endpoints', ep);
}

async function failing(ep: ReturnType<typeof stackEndpoints>): Promise<Array<[ServiceName, string]>> {
  const status = await probeServices(ep);
  return (Object.entries(status) as Array<[ServiceName, string | null]>).filter(
    (e): e is [ServiceName, string] => e[1] !== null,
  );
}

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: StackEndpoints;
  }
}
