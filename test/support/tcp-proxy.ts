/**
 * A TCP proxy between a client under test and one of the shared services, so a test can take
 * the service away from that client only (the shared FerretDB and Redis serve every other
 * test file). Three states:
 *  - `up`: bytes flow both ways;
 *  - `refuse`: the port is closed and open connections are reset, as a stopped server;
 *  - `stall`: connections are accepted and kept, but no byte goes through in either
 *    direction, as a hung server or a black-holed network (only client timeouts get out).
 * `close()` is idempotent and resets everything; a factory's afterAll should call it.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyState = 'up' | 'refuse' | 'stall';

export interface TcpProxy {
  readonly port: number;
  readonly state: ProxyState;
  /** connections accepted so far (a client that reconnects shows here) */
  readonly accepted: number;
  set(state: ProxyState): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let state: ProxyState = 'up';
  let accepted = 0;
  let closed = false;

  function onConnection(client: Socket): void {
    accepted += 1;
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    // forwarded by hand (not pipe) so a stall can swallow bytes without closing anything
    client.on('data', (b) => {
      if (state === 'up') upstream.write(b);
    });
    upstream.on('data', (b) => {
      if (state === 'up') client.write(b);
    });
  }

  const server: Server = createServer(onConnection);
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const stopListening = (): Promise<void> => new Promise((r) => (server.listening ? server.close(() => r()) : r()));
  const resetAll = (): void => {
    for (const p of [...pairs]) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
      pairs.delete(p);
    }
  };

  return {
    port,
    get state() {
      return state;
    },
    get accepted() {
      return accepted;
    },
    async set(next) {
      if (closed) throw new Error('tcp proxy closed');
      if (next === state) return;
      const prev = state;
      state = next;
      if (next === 'refuse') {
        const closing = stopListening();
        resetAll();
        await closing;
      } else if (prev === 'refuse') {
        // the same port again, so clients reconnect where they were pointed
        await listen(port);
      }
      // a stall lifted: connections resume where they were; bytes sent meanwhile are lost,
      // so the client sees a broken stream and (as after a real hang) should reconnect
      if (prev === 'stall' && next === 'up') resetAll();
    },
    async close() {
      if (closed) return;
      closed = true;
      const closing = stopListening();
      resetAll();
      await closing;
    },
  };
}

/** host and port of a `mongodb://` or `redis://` URL with one host */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}
