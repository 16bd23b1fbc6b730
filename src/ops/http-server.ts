/**
 * The projector's operations endpoint: `/metrics` (Prometheus text from the registry passed
 * in), `/healthz` (the process is alive and its loop is not wedged) and `/readyz` (it is
 * projecting: connected, not paused on a down MongoDB or Redis). Plain node:http — three
 * routes do not justify a framework.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** reasons the process is unhealthy; empty when healthy */
  health: () => string[];
  /** reasons the process is not ready; empty when ready */
  readiness: () => string[];
  /** listed by /healthz without failing it: problems a restart would not mend */
  warnings?: () => string[];
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      options.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(body);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        },
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const reasons = path === '/healthz' ? options.health() : options.readiness();
      const warnings = path === '/healthz' ? (options.warnings?.() ?? []) : [];
      res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: reasons.length === 0, reasons, ...(warnings.length > 0 ? { warnings } : {}) }));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${address}:${port}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
