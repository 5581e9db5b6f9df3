import { describe, expect, it } from 'vitest';
import { formatQualifiedName, parseQualifiedName, tableRefsOf } from '../domain/table-names.js';
import { snapshotOut } from '../api/schemas/snapshot.js';
import type { SnapshotRecord } from '../domain/records.js';
import { fineGrainedOf, type SnapshotRequest } from './snapshot-request.js';

const req = (o: Partial<SnapshotRequest>): SnapshotRequest => ({ clusterId: 'c', name: 'snap', type: 'MANUAL', level: 'cluster', ...o });

describe('schema.table names', () => {
  it('parses plain and quoted parts, and round-trips', () => {
    expect(parseQualifiedName('public.orders')).toEqual({ schema: 'public', name: 'orders' });
    expect(parseQualifiedName('Sales."Line.Items"')).toEqual({ schema: 'Sales', name: 'Line.Items' });
    expect(parseQualifiedName('"a""b".c')).toEqual({ schema: 'a"b', name: 'c' });
    for (const bad of ['orders', 'a.b.c', '.a', 'a.', '"a.b', 'a"b.c', '""."x"', 'a..b']) expect(parseQualifiedName(bad), bad).toBeNull();
    for (const t of [
      { schema: 'public', name: 'orders' },
      { schema: 'x.y', name: 'q"t' },
    ])
      expect(parseQualifiedName(formatQualifiedName(t))).toEqual(t);
  });
});

describe('fineGrainedOf', () => {
  it('cluster level takes no objects', () => {
    expect(fineGrainedOf(req({}))).toBeNull();
    expect(() => fineGrainedOf(req({ database: 'db' }))).toThrow(/cluster takes no database/);
  });
  it('schema level: a database and 1..100 distinct, non-system schemas', () => {
    expect(fineGrainedOf(req({ level: 'schema', database: 'db', schemas: ['sales', 'Audit'] }))).toEqual({
      level: 'schema',
      database: 'db',
      schemas: ['sales', 'Audit'],
      tables: [],
      dumpDir: null,
      outsideForeignKeys: [],
    });
    expect(() => fineGrainedOf(req({ level: 'schema', schemas: ['sales'] }))).toThrow(/needs backup_database/);
    expect(() => fineGrainedOf(req({ level: 'schema', database: 'db', schemas: [] }))).toThrow(/1 to 100 schemas/);
    expect(() => fineGrainedOf(req({ level: 'schema', database: 'db', schemas: ['pg_catalog'] }))).toThrow(/system schema/);
    expect(() => fineGrainedOf(req({ level: 'schema', database: 'db', schemas: ['a', 'a'] }))).toThrow(/twice/);
    expect(() => fineGrainedOf(req({ level: 'schema', database: 'db', schemas: ['x'.repeat(64)] }))).toThrow(/1 to 63 bytes/);
  });
  it('table level: schema.table names, kept as written', () => {
    const d = fineGrainedOf(req({ level: 'table', database: 'db', tables: ['public.Orders', 'sales."Line.Items"'] }))!;
    expect(d.tables).toEqual(['public.Orders', 'sales."Line.Items"']);
    expect(tableRefsOf(d)).toEqual([
      { schema: 'public', name: 'Orders' },
      { schema: 'sales', name: 'Line.Items' },
    ]);
    expect(() => fineGrainedOf(req({ level: 'table', database: 'db', tables: ['orders'] }))).toThrow(/schema\.table/);
    expect(() => fineGrainedOf(req({ level: 'table', database: 'db', tables: ['public.a', 'public.a'] }))).toThrow(/twice/);
    expect(() => fineGrainedOf(req({ level: 'table', database: 'db', tables: ['information_schema.tables'] }))).toThrow(/system schema/);
    expect(() => fineGrainedOf(req({ level: 'table', database: 'db', schemas: ['s'], tables: ['s.t'] }))).toThrow(/not a schema list/);
  });
});

describe('wire form', () => {
  const base = {
    id: 's1',
    projectId: 'p',
    clusterId: 'c',
    clusterName: 'cn',
    name: 'snap',
    description: '',
    status: 'AVAILABLE',
    type: 'AUTO',
    stanza: 'st',
    backupLabel: null,
    backupKey: '20260101_000000',
    priorBackupKey: 'FULL',
    backupType: null,
    sizeBytes: 41_000_000,
    totalBackupSize: 41_000_000,
    sourceBytes: 1,
    sourceSpec: {
      nodeType: 'n',
      numberOfNode: 3,
      userName: 'dbadmin',
      port: 8000,
      clusterSpec: {
        availabilityZone: '',
        vpcId: '',
        subnetId: '',
        securityGroupId: '',
        enterpriseProjectId: '0',
        tags: [],
        description: '',
        version: '',
        numberOfCn: null,
        publicIp: null,
        volume: null,
      },
      adminPasswordEnc: '',
      pgVersion: '15',
    },
    schemaInfo: null,
    taskId: null,
    startedAt: 0,
    finishedAt: 0,
    createdAt: 0,
    updatedAt: 0,
    deletedAt: null,
    expiredAt: null,
  } satisfies SnapshotRecord;
  const ctx = { clusterStatus: null, clusterTaskStatus: null, progress: '100%', keepDay: null, supportInplaceRestore: false };
  it('a cluster-level snapshot is unchanged', () => {
    expect(snapshotOut(base, ctx)).toMatchObject({ fine_grained_backup: false, backup_level: 'cluster', fine_grained_backup_detail: null });
  });
  it("a table-level snapshot shows its database and tables, and its dump's size", () => {
    const s: SnapshotRecord = {
      ...base,
      fineGrained: { level: 'table', database: 'shop', schemas: [], tables: ['public.orders'], dumpDir: '/x', outsideForeignKeys: [] },
    };
    expect(snapshotOut(s, ctx)).toMatchObject({
      fine_grained_backup: true,
      backup_level: 'table',
      fine_grained_backup_detail: { database: 'shop', schema_list: [], table_list: ['public.orders'] },
      size: 0.041,
    });
  });
});
