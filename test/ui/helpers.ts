/**
 * Shared by the viewer's tests: the front end built once per file into a temporary directory
 * (so a test never serves a stale web/dist), a viewer on the file's isolated stack, and
 * Debian's Chromium driven by playwright-core (never a downloaded browser).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll } from 'vitest';
import type { CheckpointStore } from '../../src/store/types.ts';
import { startViewer, type Viewer, type ViewerOptions } from '../../src/ui/viewer.ts';
import type { IsolatedStack } from '../support/isolation.ts';
import { GENERATION, PARTITIONS } from '../store/helpers.ts';

export const root = path.resolve(import.meta.dirname, '../..');
export const CHROMIUM = '/usr/bin/chromium';

/** web/ built by Vite into a temporary directory, removed after the file. */
export async function buildAssets(): Promise<string> {
  const outDir = await mkdtemp(path.join(tmpdir(), 'threadlog-ui-'));
  afterAll(() => rm(outDir, { recursive: true, force: true }));
  await build({ configFile: path.join(root, 'web/vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
  return outDir;
}

export async function startTestViewer(stack: IsolatedStack, store: CheckpointStore, assetsDir: string, options: Partial<ViewerOptions> = {}): Promise<Viewer> {
  const viewer = await startViewer({
    kafka: stack.kafka,
    db: (await stack.mongo()).db(stack.dbName),
    redis: stack.redis(),
    store,
    topicPrefix: stack.topicPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    redisPrefix: stack.redisPrefix,
    port: 0,
    assetsDir,
    ...options,
  });
  afterAll(() => viewer.close());
  return viewer;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  afterAll(() => browser.close());
  return browser;
}
