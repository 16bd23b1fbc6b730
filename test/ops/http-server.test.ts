import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { startOpsServer, type OpsServer } from '../../src/ops/http-server.ts';

let server: OpsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('ops http server', () => {
  it('serves metrics from the registry passed in, and health/readiness with reasons', async () => {
    const registry = new Registry();
    new Counter({ name: 'threadlog_test_total', help: 'test', registers: [registry] }).inc(3);
    let notReady = ['mongodb down'];
    server = await startOpsServer({ host: '127.0.0.1', port: 0, registry, health: () => [], readiness: () => notReady });

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('threadlog_test_total 3');

    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, reasons: ['mongodb down'] });
    notReady = [];
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('close is idempotent', async () => {
    server = await startOpsServer({ host: '127.0.0.1', port: 0, registry: new Registry(), health: () => [], readiness: () => [] });
    await Promise.all([server.close(), server.close()]);
  });
});
