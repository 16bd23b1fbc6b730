/**
 * `threadlog ui` through the real binary: refuses a network bind without a token before it
 * connects to anything, and serves the built front end and the API on the file's stack until
 * SIGTERM.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { stackEnvVars } from '../support/stack-env.ts';
import { GENERATION, openStore, PARTITIONS } from '../store/helpers.ts';
import { writeThread } from '../cli/helpers.ts';
import { root } from './helpers.ts';

const stack = useIsolatedStack();
const bin = path.join(root, 'bin/threadlog.mjs');

describe('threadlog ui', () => {
  beforeAll(async () => {
    const store = await openStore(stack, { embeddedProjector: true });
    await writeThread(store, 'cli-thread', 2);
    await store.load({ threadId: 'cli-thread' }, { consistency: 'strong' });
    // the package's own build (npm ci builds it through the prepare script)
    const built = spawnSync('npm', ['run', 'build:ui'], { cwd: root, encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
  });

  it('refuses to listen beyond loopback without a token, saying what to do', () => {
    const r = spawnSync(process.execPath, [bin, 'ui', '--host', '0.0.0.0'], { encoding: 'utf8', env: { ...process.env, THREADLOG_MONGO_URL: 'mongodb://127.0.0.1:1/' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--token');
    const weak = spawnSync(process.execPath, [bin, 'ui', '--host', '0.0.0.0', '--token', 'short'], { encoding: 'utf8' });
    expect(weak.status).toBe(2);
    expect(weak.stderr).toContain('at least 16 characters');
  });

  it('serves the viewer until SIGTERM', async () => {
    // through the npm bin, as a supervisor runs it: the signal must reach the CLI itself
    const child = spawn(process.execPath, [bin, 'ui', '--port', '0'], {
      cwd: root,
      env: { ...process.env, ...stackEnvVars(stack), THREADLOG_GENERATION: GENERATION, THREADLOG_PARTITIONS: String(PARTITIONS), THREADLOG_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await waitFor(() => /open (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], { timeoutMs: 60_000, what: `the viewer's URL (stderr: ${err})` });
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<tl-app>');
      const threads = (await (await fetch(`${url}/api/threads`)).json()) as { threads: Array<{ threadId: string }> };
      expect(threads.threads.map((t) => t.threadId)).toEqual(['cli-thread']);
      expect((await fetch(`${url}/api/threads`, { method: 'DELETE' })).status).toBe(405);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
