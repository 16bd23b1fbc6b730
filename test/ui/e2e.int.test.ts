/**
 * The viewer end to end in Debian's headless Chromium (playwright-core, never a downloaded
 * browser): the demo's graph (tool loop, interrupt and resume, subgraph, time travel and a
 * fork) on ThreadlogSaver, then the thread opened from the list; the tree shows the fork
 * and the interrupt, a checkpoint's diff shows the appended messages, the audit badges are
 * verified, new checkpoints arrive live, and a tampered projection document turns its
 * event's badge red. Screenshots of the thread view and a diff go to docs/img/.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { CheckpointMetadata } from '@langchain/langgraph-checkpoint';
import { Command } from '@langchain/langgraph';
import { buildSupportAgent, runScenario, userTurn } from '../../examples/support-agent.ts';
import { ThreadlogSaver } from '../../src/langgraph/saver.ts';
import { ids } from '../../src/projection/ids.ts';
import type { CheckpointStore } from '../../src/store/types.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpoint, GENERATION, openStore } from '../store/helpers.ts';
import { buildAssets, launchChromium, root, startTestViewer } from './helpers.ts';

const stack = useIsolatedStack();
const THREAD = 'support-1';
const HOSTILE = `evil"<script>window.__pwned=1</script>'<img src=x onerror="window.__pwned=2">`;
const imgDir = path.join(root, 'docs/img');

describe('the timeline viewer in a browser', () => {
  let store: CheckpointStore;
  let saver: ThreadlogSaver;
  let url: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const assets = await buildAssets();
    store = await openStore(stack, { embeddedProjector: true });
    saver = new ThreadlogSaver({ store });
    const result = await runScenario(saver, THREAD);
    expect(result.interruptedAt).toEqual(['review']);
    const cp = checkpoint({ note: `"><img src=x onerror="window.__pwned=3">` });
    await store.save({ threadId: HOSTILE, checkpoint: cp, metadata: { source: 'input', step: -1, parents: {}, [`"<b>key`]: `<script>window.__pwned=4</script>` } as CheckpointMetadata, newVersions: cp.channel_versions });
    for (const t of [THREAD, HOSTILE]) await store.load({ threadId: t }, { consistency: 'strong' });
    url = (await startTestViewer(stack, store, assets)).url;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await mkdir(imgDir, { recursive: true });
  });

  /** the text a <tl-json> renders in its shadow root (folded parts included) */
  const jsonText = (loc: ReturnType<Page['locator']>) => loc.evaluate((e) => e.shadowRoot?.textContent ?? '');
  const rows = () => page.locator('tl-thread .row[data-checkpoint]');
  const badgeOf = (checkpointId: string) => page.locator(`tl-thread .row[data-checkpoint="${checkpointId}"] [data-audit]`);

  it('opens the thread from the list and shows its tree: fork, interrupt, subgraphs, verified audit', async () => {
    await page.goto(`${url}/`);
    await page.locator('tl-threads a.thread-link', { hasText: THREAD }).click();
    await waitFor(async () => (await rows().count()) > 15, { what: 'the tree rows' });
    await expect.poll(() => page.locator('tl-thread [data-mark="fork"]').count()).toBe(1);
    expect(await page.locator('tl-thread [data-mark="fork"]').innerText()).toContain('2 branches');
    expect(await page.locator('tl-thread [data-mark="interrupt"]').count()).toBeGreaterThan(0);
    expect(await page.locator('tl-thread [data-mark="resume"]').count()).toBeGreaterThan(0);
    expect(await page.locator('tl-thread .group').count()).toBeGreaterThan(0);
    // the tree has two lanes: the fork's branch beside the main line
    const widths = await page.locator('tl-thread svg.graph').evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
    expect(new Set(widths).size).toBe(1);
    expect(widths[0]).toBe(32);
    await page.locator('tl-thread [data-banner="audit-ok"]').waitFor({ timeout: 60_000 });
    const statuses = await page.locator('tl-thread [data-audit]').evaluateAll((els) => els.map((e) => e.getAttribute('data-audit')));
    expect(statuses.length).toBeGreaterThan(15);
    expect(new Set(statuses)).toEqual(new Set(['verified']));
  });

  it('shows a checkpoint: the diff against its parent, its state, pending writes and log position', async () => {
    // the fork's second checkpoint: the forked question appended to the messages
    const thread = await (await page.request.get(`${url}/api/thread?thread=${THREAD}`)).json() as { checkpoints: Array<{ checkpointId: string; checkpointNs: string; parentCheckpointId: string | null; source: string | null; interrupt: boolean; step: number | null }> };
    const root = thread.checkpoints.filter((c) => c.checkpointNs === '');
    const input = root.find((c) => c.source === 'input' && c.step === 5)!;
    const forked = root.find((c) => c.parentCheckpointId === input.checkpointId)!;
    await page.locator(`tl-thread .row[data-checkpoint="${forked.checkpointId}"]`).click();
    const panel = page.locator('tl-checkpoint');
    await panel.locator('[data-channel="messages"]').waitFor();
    expect(await panel.locator('[data-channel="messages"]').innerText()).toMatch(/\+1 appended/);
    expect(await panel.locator('[data-change="added"]').first().innerText()).toContain('forked question');
    expect(await panel.locator('[data-change="replaced"]').first().innerText()).toContain('turn');
    await page.screenshot({ path: path.join(imgDir, 'viewer-thread.png') });
    await panel.screenshot({ path: path.join(imgDir, 'viewer-diff.png') });

    await panel.locator('[data-tab="state"]').click();
    expect(await jsonText(panel.locator('tl-json').first())).toContain('forked question');
    await panel.locator('[data-tab="events"]').click();
    expect(await panel.locator('[data-event]', { hasText: 'checkpoint' }).innerText()).toMatch(/checkpoint\s+\d+:\d+\s+[\d,]+ bytes\s+verified/);

    const paused = root.find((c) => c.interrupt)!;
    await page.locator(`tl-thread .row[data-checkpoint="${paused.checkpointId}"]`).click();
    await panel.locator('[data-tab="writes"]').click();
    await panel.locator('[data-write="__interrupt__"]').waitFor();
    expect(await panel.locator('[data-write="__interrupt__"]').innerText()).toContain('approve answer for turn 2?');
  });

  it('shows new checkpoints live, as the projector applies them', async () => {
    const before = await rows().count();
    const graph = buildSupportAgent(saver, { reviewEvery: 2 });
    const config = { configurable: { thread_id: THREAD } };
    await graph.invoke(userTurn(8), config);
    await waitFor(async () => (await page.locator('tl-thread [data-mark="new"]').count()) > 0, { timeoutMs: 30_000, what: 'live checkpoints in the tree' });
    await waitFor(async () => (await rows().count()) > before, { what: 'more rows' });
    // the viewer wrote nothing: the graph still resumes as usual
    expect((await graph.getState(config)).next).toEqual(['review']);
    await graph.invoke(new Command({ resume: true }), config);
  });

  it('turns the badge of a tampered event red', async () => {
    await page.reload();
    await page.locator('tl-thread [data-banner="audit-ok"]').waitFor({ timeout: 60_000 });
    const thread = await (await page.request.get(`${url}/api/thread?thread=${THREAD}&limit=1000`)).json() as { checkpoints: Array<{ checkpointId: string; checkpointNs: string; step: number | null }> };
    const victim = thread.checkpoints.filter((c) => c.checkpointNs === '').find((c) => c.step === 2)!;
    expect(await badgeOf(victim.checkpointId).getAttribute('data-audit')).toBe('verified');
    const col = (await stack.mongo()).db(stack.dbName).collection<{ _id: string }>(`${GENERATION}_checkpoints`);
    const res = await col.updateOne({ _id: ids.checkpoint(THREAD, '', victim.checkpointId) }, { $set: { 'metadata.step': 99 } });
    expect(res.modifiedCount).toBe(1);
    await page.locator('tl-thread [data-action="audit"]').click();
    await page.locator('tl-thread [data-banner="audit-bad"]').waitFor({ timeout: 60_000 });
    const badge = badgeOf(victim.checkpointId);
    expect(await badge.getAttribute('data-audit')).toBe('altered');
    expect(await badge.evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor)).toBe('rgb(220, 38, 38)');
    expect(await badge.getAttribute('class')).toContain('first');
    expect(await page.locator('tl-thread [data-banner="audit-bad"]').innerText()).toMatch(/altered/);
    await page.locator(`tl-thread .row[data-checkpoint="${victim.checkpointId}"]`).click();
    await page.locator('tl-checkpoint [data-tab="events"]').click();
    await page.locator('tl-checkpoint [data-event] [data-audit="altered"]').waitFor();
    await page.screenshot({ path: path.join(imgDir, 'viewer-audit.png'), fullPage: true });
    // every other checkpoint stays verified
    const others = await page.locator('tl-thread .row[data-checkpoint] [data-audit]').evaluateAll((els) => els.map((e) => e.getAttribute('data-audit')));
    expect(others.filter((s) => s !== 'verified')).toEqual(['altered']);
  });

  it('renders hostile thread ids and metadata as text, never as markup', async () => {
    await page.goto(`${url}/`);
    const link = page.locator('tl-threads a.thread-link', { hasText: 'evil' });
    expect(await link.innerText()).toBe(HOSTILE);
    await link.click();
    expect(await page.locator('tl-thread [data-thread-title]').innerText()).toBe(HOSTILE);
    await page.locator('tl-thread .row[data-checkpoint]').first().click();
    const panel = page.locator('tl-checkpoint');
    await panel.locator('[data-tab="metadata"]').click();
    await panel.locator('tl-json').waitFor();
    expect(await jsonText(panel.locator('tl-json'))).toContain('<script>window.__pwned=4</script>');
    await panel.locator('[data-tab="state"]').click();
    await waitFor(async () => (await jsonText(panel.locator('tl-json').first())).includes('onerror="window.__pwned=3"'), { what: 'the hostile state as text' });
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // no element came out of the data: no <img>, no <script> beyond the page's own
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('tl-app script').count()).toBe(0);
    expect(await page.title()).toBe(`${HOSTILE} · threadlog`);
  });
});
