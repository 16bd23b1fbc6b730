/**
 * Kafka with a SASL_SSL listener (SCRAM-SHA-256) and a certificate from a CA the test makes
 * (issue 15, item 6): the test formats and starts its own single-node KRaft broker from the
 * stack's Kafka jars — a plaintext listener for the broker itself, SASL_SSL for clients, a
 * SCRAM user added at format time. The store, the projector and the CLI (from the
 * environment) work through it; a wrong password and an untrusted certificate are typed
 * errors naming Kafka and the setting, for the store and the projector (no endless retry).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timelineCommand } from '../../src/cli/timeline.ts';
import { probeServices } from '../../src/health.ts';
import { createCheckpointStore, createProjector, isThreadlogError, type CheckpointStoreInput } from '../../src/index.ts';
import type { TimelineRow } from '../../src/ops/timeline.ts';
import { capture, stackEnv } from '../cli/helpers.ts';
import { checkpoint, GENERATION, PARTITIONS } from '../store/helpers.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { freePort, makeTestPki, type TestPki } from '../support/tls.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');
// tests are entry points: where infra/stack.sh keeps Kafka's jars
const local = process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local');
const password = 'tl-kafka-secret';
let pki: TestPki;
let port: number;
let broker: ChildProcess | undefined;

const sasl = (pw = password) => ({ mechanism: 'scram-sha-256' as const, username: 'threadlog', password: pw });
const storeWith = (kafka: CheckpointStoreInput['kafka']) =>
  createCheckpointStore({
    kafka,
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { url: stack.endpoints.redisUrl },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    readTimeoutMs: 30_000,
  });
const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);
const listening = (p: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(p, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

beforeAll(async () => {
  pki = makeTestPki('kafka-sasl-ssl');
  const kafkaDir = path.join(local, 'kafka');
  const lib = existsSync(kafkaDir) ? readdirSync(kafkaDir).find((d) => d.startsWith('lib-') && existsSync(path.join(kafkaDir, d, '.complete'))) : undefined;
  if (lib === undefined) throw new Error(`no Kafka jars under ${kafkaDir}: start the stack once (npm run infra:up)`);
  const [internal, controller] = [await freePort(), await freePort()];
  port = await freePort();
  const keystore = path.join(pki.dir, 'keystore.pem');
  writeFileSync(keystore, Buffer.concat([readFileSync(pki.keyFile), readFileSync(pki.certFile)]));
  const conf = path.join(pki.dir, 'server.properties');
  writeFileSync(
    conf,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=INTERNAL://127.0.0.1:${internal},SECURE://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=INTERNAL://127.0.0.1:${internal},SECURE://127.0.0.1:${port}`,
      'listener.security.protocol.map=INTERNAL:PLAINTEXT,SECURE:SASL_SSL,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=INTERNAL',
      'controller.listener.names=CONTROLLER',
      'sasl.enabled.mechanisms=SCRAM-SHA-256',
      'listener.name.secure.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.secure.ssl.keystore.type=PEM',
      `listener.name.secure.ssl.keystore.location=${keystore}`,
      `log.dirs=${path.join(pki.dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'num.network.threads=1',
      'num.io.threads=2',
      '',
    ].join('\n'),
  );
  // a small, quickly started JVM (C1 only, serial GC), as the stack's cluster mode runs its brokers
  const jvm = ['-Xms128m', '-Xmx384m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${path.join(root, 'infra/kafka/log4j2.xml')}`, `-Dkafka.logs.dir=${pki.dir}`, '-cp', `${path.join(kafkaDir, lib)}/*`];
  const id = spawnSync('java', [...jvm, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' }).stdout.trim().split('\n').at(-1)!;
  const format = spawnSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${id}`, '-c', conf, '--add-scram', `SCRAM-SHA-256=[name=threadlog,password=${password}]`], { encoding: 'utf8' });
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${format.stdout} ${format.stderr}`);
  const proc = spawn('java', [...jvm, 'kafka.Kafka', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  broker = proc;
  let log = '';
  proc.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  await waitFor(async () => proc.exitCode !== null || (await listening(port)), { timeoutMs: 90_000, what: 'the SASL_SSL broker' });
  if (proc.exitCode !== null) throw new Error(`the broker exited: ${log}`);
}, 150_000);

afterAll(async () => {
  if (broker && broker.exitCode === null) {
    const exited = new Promise((r) => broker!.once('exit', r));
    broker.kill('SIGTERM');
    const timer = setTimeout(() => broker!.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}, 30_000);

describe('Kafka over SASL_SSL (SCRAM-SHA-256) with a certificate from our own CA', () => {
  it('the store, the projector and the CLI work through it', async () => {
    const store = await storeWith({ brokers: [`127.0.0.1:${port}`], ssl: { ca: [pki.ca] }, sasl: sasl() });
    const projector = createProjector({
      topicPrefix: stack.topicPrefix,
      generation: GENERATION,
      partitions: PARTITIONS,
      brokers: [`127.0.0.1:${port}`],
      kafkaSsl: { ca: [pki.ca] },
      kafkaSasl: sasl(),
      mongoUrl: stack.endpoints.mongoUrl,
      mongoDbName: stack.dbName,
      redisUrl: stack.endpoints.redisUrl,
      redisPrefix: stack.redisPrefix,
      sessionTimeoutMs: 10_000,
    });
    try {
      await projector.start();
      const threadId = stack.unique('sasl');
      const cp = checkpoint({ messages: ['through SASL_SSL'] }, 1);
      await store.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step: 1, parents: {} } });
      expect((await store.load({ threadId }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual(cp.channel_values);

      const env = stackEnv(stack, {
        THREADLOG_KAFKA_BROKERS: `127.0.0.1:${port}`,
        THREADLOG_KAFKA_TLS_CA_FILE: pki.caFile,
        THREADLOG_KAFKA_SASL_MECHANISM: 'scram-sha-256',
        THREADLOG_KAFKA_SASL_USERNAME: 'threadlog',
        THREADLOG_KAFKA_SASL_PASSWORD: password,
      });
      const io = capture();
      expect(await timelineCommand(env, threadId, { json: true }, io)).toBe(0);
      expect(io.json<{ events: TimelineRow[] }>().events.map((r) => r.checkpointId)).toEqual([cp.id]);
      // threadlog health from the same environment
      expect((await probeServices(env)).kafka).toMatchObject({ ok: true });
      expect((await probeServices({ ...env, kafkaSasl: sasl('wrong') })).kafka).toMatchObject({ ok: false, error: expect.stringContaining('refused our credentials') });
    } finally {
      await store.close();
      await projector.stop();
    }
  });

  it('a wrong password is auth-failed naming Kafka and the setting, for the store and the projector', async () => {
    const e = await errorOf(storeWith({ brokers: [`127.0.0.1:${port}`], ssl: { ca: [pki.ca] }, sasl: sasl('wrong') }));
    expect(isThreadlogError(e, 'auth-failed'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/^Kafka at the configured brokers refused our credentials/);
    expect((e as Error).message).toContain('THREADLOG_KAFKA_SASL_USERNAME');

    const projector = createProjector({ topicPrefix: stack.topicPrefix, generation: GENERATION, partitions: PARTITIONS, brokers: [`127.0.0.1:${port}`], kafkaSsl: { ca: [pki.ca] }, kafkaSasl: sasl('wrong'), mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName });
    const pe = await errorOf(projector.start());
    await projector.stop();
    expect(isThreadlogError(pe, 'auth-failed'), String(pe)).toBe(true);
  });

  it('an untrusted certificate is tls-untrusted naming Kafka and the setting', async () => {
    for (const ssl of [true, { ca: [pki.otherCa] }]) {
      const e = await errorOf(storeWith({ brokers: [`127.0.0.1:${port}`], ssl, sasl: sasl() }));
      expect(isThreadlogError(e, 'tls-untrusted'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(/^Kafka at the configured brokers: its TLS certificate is not trusted/);
      expect((e as Error).message).toContain('THREADLOG_KAFKA_TLS_CA_FILE');
    }
  });
});
