import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encryptionOptions, kafkaSecurity, parseEnv, redisConnection, redisWhere } from '../../src/cli/env.ts';
import { localKeyId } from '../../src/crypto/key-provider.ts';

describe('parseEnv', () => {
  it('defaults to the local stack', () => {
    const env = parseEnv({});
    expect(env.kafkaBrokers).toEqual(['127.0.0.1:19092']);
    expect(env.mongoUrl).toBe('mongodb://127.0.0.1:27018/');
    expect(env.redisUrl).toBe('redis://127.0.0.1:16379');
    expect(env.topicPrefix).toBe('threadlog');
    expect(env.partitions).toBe(12);
  });

  it('takes production endpoints', () => {
    const env = parseEnv({
      THREADLOG_KAFKA_BROKERS: 'k1:9092, k2:9092',
      THREADLOG_MONGO_URL: 'mongodb://m1:27017,m2:27017/?replicaSet=rs0',
      THREADLOG_REDIS_URL: 'rediss://cache:6380',
      THREADLOG_PARTITIONS: '48',
    });
    expect(env.kafkaBrokers).toEqual(['k1:9092', 'k2:9092']);
    expect(env.mongoUrl).toContain('replicaSet=rs0');
    expect(env.partitions).toBe(48);
  });

  it('rejects malformed values with a message naming the variable', () => {
    expect(() => parseEnv({ THREADLOG_PARTITIONS: 'many' })).toThrow(/THREADLOG_PARTITIONS/);
    expect(() => parseEnv({ THREADLOG_TOPIC_PREFIX: 'a b' })).toThrow(/THREADLOG_TOPIC_PREFIX/);
  });

  it('takes a Redis Cluster as seed nodes, which then replace THREADLOG_REDIS_URL', () => {
    const env = parseEnv({ THREADLOG_REDIS_CLUSTER_NODES: '10.0.0.1:6379, 10.0.0.2:6380,[::1]:7000', THREADLOG_REDIS_URL: 'redis://ignored:6379' });
    expect(env.redisClusterNodes).toEqual(['10.0.0.1:6379', '10.0.0.2:6380', '[::1]:7000']);
    expect(redisConnection(env)).toEqual({ clusterNodes: ['10.0.0.1:6379', '10.0.0.2:6380', '[::1]:7000'] });
    expect(redisWhere(env)).toBe('Redis Cluster 10.0.0.1:6379,10.0.0.2:6380,[::1]:7000');
    const single = parseEnv({});
    expect(single.redisClusterNodes).toBeUndefined();
    expect(redisConnection(single)).toEqual({ url: 'redis://127.0.0.1:16379' });
  });

  it('rejects a cluster node that is not host:port, naming the variable and the node', () => {
    expect(() => parseEnv({ THREADLOG_REDIS_CLUSTER_NODES: '10.0.0.1:6379,redis://10.0.0.2:6379' })).toThrow(/THREADLOG_REDIS_CLUSTER_NODES.*redis:\/\/10\.0\.0\.2:6379.*host:port/);
    expect(() => parseEnv({ THREADLOG_REDIS_CLUSTER_NODES: 'cache:99999' })).toThrow(/THREADLOG_REDIS_CLUSTER_NODES/);
    expect(() => parseEnv({ THREADLOG_REDIS_CLUSTER_NODES: ' , ' })).toThrow(/THREADLOG_REDIS_CLUSTER_NODES/);
  });

  it('takes a NAT map for a cluster whose nodes announce addresses the client cannot reach', () => {
    const env = parseEnv({ THREADLOG_REDIS_CLUSTER_NODES: '127.0.0.1:21301', THREADLOG_REDIS_CLUSTER_NAT_MAP: '172.28.0.31:6379=127.0.0.1:21301, 172.28.0.32:6379=127.0.0.1:21302' });
    expect(redisConnection(env)).toEqual({
      clusterNodes: ['127.0.0.1:21301'],
      clusterOptions: { natMap: { '172.28.0.31:6379': { host: '127.0.0.1', port: 21301 }, '172.28.0.32:6379': { host: '127.0.0.1', port: 21302 } } },
    });
    expect(() => parseEnv({ THREADLOG_REDIS_CLUSTER_NAT_MAP: '172.28.0.31:6379' })).toThrow(/THREADLOG_REDIS_CLUSTER_NAT_MAP.*announced=reachable/);
    expect(() => parseEnv({ THREADLOG_REDIS_CLUSTER_NAT_MAP: '172.28.0.31:6379=localhost' })).toThrow(/THREADLOG_REDIS_CLUSTER_NAT_MAP.*host:port/);
  });

  it('takes the master key from a file or the variable; encryption is off without one', () => {
    const key = randomBytes(32);
    const old = randomBytes(32);
    const dir = mkdtempSync(path.join(tmpdir(), 'threadlog-env-'));
    const file = path.join(dir, 'master.key');
    const oldFile = path.join(dir, 'old.key');
    writeFileSync(file, key.toString('hex') + '\n');
    writeFileSync(oldFile, old.toString('base64'));
    expect(encryptionOptions(parseEnv({}))).toBe(false);
    const fromFile = encryptionOptions(parseEnv({ THREADLOG_MASTER_KEY_FILE: file, THREADLOG_PREVIOUS_MASTER_KEY_FILES: oldFile }));
    expect(fromFile && fromFile.keyProvider.keyId).toBe(localKeyId(key));
    expect(fromFile && fromFile.previousKeyProviders?.map((p) => p.keyId)).toEqual([localKeyId(old)]);
    const fromVar = encryptionOptions(parseEnv({ THREADLOG_MASTER_KEY: key.toString('hex') }));
    expect(fromVar && fromVar.keyProvider.keyId).toBe(localKeyId(key));
  });

  it('refuses a master key that is not 32 bytes, a file it cannot read, or both settings at once, naming the variable', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'threadlog-env-'));
    const short = path.join(dir, 'short.key');
    writeFileSync(short, 'abcd');
    expect(() => parseEnv({ THREADLOG_MASTER_KEY_FILE: short })).toThrow(/THREADLOG_MASTER_KEY_FILE.*32 bytes/);
    expect(() => parseEnv({ THREADLOG_MASTER_KEY_FILE: path.join(dir, 'absent') })).toThrow(/THREADLOG_MASTER_KEY_FILE: cannot read/);
    expect(() => parseEnv({ THREADLOG_MASTER_KEY: 'nope' })).toThrow(/THREADLOG_MASTER_KEY.*openssl rand -hex 32/);
    expect(() => parseEnv({ THREADLOG_MASTER_KEY: randomBytes(32).toString('hex'), THREADLOG_MASTER_KEY_FILE: short })).toThrow(/not both/);
    expect(() => parseEnv({ THREADLOG_PREVIOUS_MASTER_KEY_FILES: short })).toThrow(/32 bytes|needs the current key/);
  });

  it('takes the CA of a TLS Redis from a file, and passes it to the connection', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'threadlog-env-'));
    const file = path.join(dir, 'ca.crt');
    writeFileSync(file, '-----BEGIN CERTIFICATE-----\n');
    const env = parseEnv({ THREADLOG_REDIS_URL: 'rediss://u:p@cache:6380', THREADLOG_REDIS_TLS_CA_FILE: file });
    expect(redisConnection(env)).toEqual({ url: 'rediss://u:p@cache:6380', options: { tls: { ca: Buffer.from('-----BEGIN CERTIFICATE-----\n') } } });
    expect(() => parseEnv({ THREADLOG_REDIS_TLS_CA_FILE: path.join(dir, 'absent') })).toThrow(/THREADLOG_REDIS_TLS_CA_FILE: cannot read/);
  });

  it('takes Kafka TLS and SASL together; SASL turns TLS on; a partial SASL setting is refused', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'threadlog-env-'));
    const file = path.join(dir, 'kafka-ca.crt');
    writeFileSync(file, 'PEM');
    const sasl = { THREADLOG_KAFKA_SASL_MECHANISM: 'scram-sha-256', THREADLOG_KAFKA_SASL_USERNAME: 'u', THREADLOG_KAFKA_SASL_PASSWORD: 'p' };
    expect(kafkaSecurity(parseEnv({}))).toEqual({});
    expect(kafkaSecurity(parseEnv({ ...sasl, THREADLOG_KAFKA_TLS_CA_FILE: file }))).toEqual({ ssl: { ca: [Buffer.from('PEM')] }, sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' } });
    expect(kafkaSecurity(parseEnv(sasl)).ssl).toBe(true);
    expect(() => parseEnv({ THREADLOG_KAFKA_SASL_USERNAME: 'u' })).toThrow(/THREADLOG_KAFKA_SASL_MECHANISM, THREADLOG_KAFKA_SASL_USERNAME and THREADLOG_KAFKA_SASL_PASSWORD together/);
    expect(() => parseEnv({ ...sasl, THREADLOG_KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow(/THREADLOG_KAFKA_SASL_MECHANISM/);
  });
});
