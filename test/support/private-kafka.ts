/**
 * A throwaway single-node Kafka broker for tests that must kill a broker: the shared one on
 * 19092 serves every other test file. Same jars and config shape as infra/stack.sh, its own
 * free ports and a data dir under the OS temp folder. `kill()` is a kill -9 (no clean
 * shutdown, so recovery runs), `restart()` starts it again on the same data dir, `stop()`
 * kills it and deletes everything; a process 'exit' hook kills it if a test forgets.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from './isolation.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export interface PrivateKafka {
  brokers: string[];
  dir: string;
  logFile: string;
  pid(): number | undefined;
  /** with `proxied`: the TCP proxy clients go through (its `stall` is a broker that never answers) */
  proxy: TcpProxy | undefined;
  /** kill -9 and wait until the process is gone */
  kill(): Promise<void>;
  /** start again on the same data dir and wait until it serves metadata */
  restart(): Promise<void>;
  /** kill and delete the data dir; idempotent */
  stop(): Promise<void>;
}

export interface PrivateKafkaOptions {
  version?: string;
  heap?: string;
  /**
   * advertise a TCP proxy's port instead of the broker's own, so every client connection
   * (bootstrap and after the metadata) goes through the proxy
   */
  proxied?: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startPrivateKafka({ version = '4.1.1', heap = '384m', proxied = false }: PrivateKafkaOptions = {}): Promise<PrivateKafka> {
  const localDir = process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local');
  const lib = path.join(localDir, 'kafka', `lib-${version}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'threadlog-kafka-'));
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  const port = await freePort();
  let ctrlPort = await freePort();
  while (ctrlPort === port) ctrlPort = await freePort();
  const proxy = proxied ? await startTcpProxy({ host: '127.0.0.1', port }) : undefined;
  const advertised = proxy?.port ?? port;
  const conf = path.join(dir, 'server.properties');
  const logFile = path.join(dir, 'kafka.log');
  await writeFile(
    conf,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${ctrlPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${ctrlPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${advertised}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'num.partitions=1',
      'num.network.threads=1',
      'num.io.threads=2',
      'log.retention.ms=-1',
      '',
    ].join('\n'),
  );
  const jvm = [
    '-Xms128m',
    `-Xmx${heap}`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(root, 'infra/kafka/log4j2.xml')}`,
    `-Dkafka.logs.dir=${dir}`,
    '-cp',
    `${lib}/*`,
  ];
  // A cluster id is 16 random bytes in URL-safe base64, what `StorageTool random-uuid` prints.
  // `--cluster-id=<id>`, not `-t <id>`: one id in 64 starts with '-', which the tool's argument
  // parser then takes for an option (a CI run failed on exactly that)
  const clusterId = randomBytes(16).toString('base64url');
  try {
    await run('java', [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', conf], { timeout: 60_000 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    await proxy?.close();
    throw new Error(`private Kafka: storage format failed (are the jars in ${lib}? run npm run infra:up)`, { cause: e });
  }

  let child: ChildProcess | undefined;
  let stopped = false;
  const onExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', onExit);
  const brokers = [`127.0.0.1:${advertised}`];

  async function start(): Promise<void> {
    const fd = openSync(logFile, 'a');
    child = spawn('java', [...jvm, 'kafka.Kafka', conf], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const proc = child;
    const probe = new Kafka({ clientId: 'private-kafka-probe', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = probe.admin();
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`private Kafka exited during start-up:\n${tail()}`);
          }
          await admin.connect();
          await admin.listTopics();
          return true;
        },
        { timeoutMs: 90_000, intervalMs: 250, what: `private Kafka on ${brokers[0]} (log: ${logFile})` },
      );
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  function tail(): string {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  async function kill(): Promise<void> {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
  }

  await start().catch(async (e: unknown) => {
    await kill();
    process.off('exit', onExit);
    await rm(dir, { recursive: true, force: true });
    await proxy?.close();
    throw e;
  });

  return {
    brokers,
    proxy,
    dir,
    logFile,
    pid: () => child?.pid,
    kill,
    async restart() {
      if (stopped) throw new Error('private Kafka was stopped');
      await kill();
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
      await proxy?.close();
    },
  };
}
