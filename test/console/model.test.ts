/** The web console's pure helpers: progressInfo parsing, formatting, and placing API errors beside fields. */
import { describe, expect, it } from 'vitest';
import {
  fieldOfError,
  formatBytes,
  formatSeconds,
  hasRate,
  parameterChanges,
  parameterFields,
  parsePercent,
  parseProgressInfo,
  restartingChanges,
  startedRecord,
  psqlCommand,
  writeEndpoint,
  splitRoute,
  type FieldMatch,
} from '../../console/src/model.js';

describe('parseProgressInfo', () => {
  it('reads the double-encoded detail of the reference example', () => {
    const info = {
      progress: '42.50%',
      backupSize: 157661926,
      totalSize: 300000000,
      backupRate: { producerRate: '12.3MB/s', consumerRate: '4.0MB/s', compressRate: '0.0MB/s' },
      currentStep: 'BACKUP',
      failedStep: '',
      errorMsg: '',
      actionType: 'Backup',
    };
    const p = parseProgressInfo(JSON.stringify({ progressInfo: JSON.stringify(info) }));
    expect(p).toMatchObject({
      percent: 42.5,
      progress: '42.50%',
      backupSize: 157661926,
      totalSize: 300000000,
      producerRate: '12.3MB/s',
      currentStep: 'BACKUP',
      actionType: 'Backup',
    });
  });
  it('tolerates a missing or broken detail', () => {
    expect(parseProgressInfo('')).toBeNull();
    expect(parseProgressInfo('{')).toBeNull();
    expect(parseProgressInfo(JSON.stringify({ progressInfo: '{' }))).toBeNull();
    expect(parseProgressInfo(JSON.stringify({ progressInfo: { progress: '100.00%' } }))?.percent).toBe(100);
  });
  it('parses and clamps percentages', () => {
    expect(parsePercent('100.00%')).toBe(100);
    expect(parsePercent('7%')).toBe(7);
    expect(parsePercent('120%')).toBe(100);
    expect(parsePercent('n/a')).toBe(0);
  });
});

describe('formatting', () => {
  it('uses decimal units like the API rates', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(157661926)).toBe('157.7 MB');
    expect(formatBytes(2.5e9)).toBe('2.50 GB');
  });
  it('formats estimates, -1 being unknown', () => {
    expect(formatSeconds(-1)).toBeNull();
    expect(formatSeconds(0)).toBe('0s');
    expect(formatSeconds(185)).toBe('3m 05s');
    expect(formatSeconds(3725)).toBe('1h 02m');
  });
  it('shows only rates above zero', () => {
    expect(hasRate('0.0MB/s')).toBe(false);
    expect(hasRate('12.3MB/s')).toBe(true);
    expect(hasRate('')).toBe(false);
  });
  it('builds the psql command of an endpoint', () => {
    expect(psqlCommand('127.0.1.1:8000', 'dbadmin')).toBe('psql "host=127.0.1.1 port=8000 user=dbadmin dbname=postgres"');
  });
  it('suggests the read-write endpoint behind a router, else the primary member', () => {
    const nodes = [
      { role: 'standby', connect_info: '127.0.4.1:8000' },
      { role: 'primary', connect_info: '127.0.4.2:8000' },
    ];
    const router = [{ connect_info: '127.1.4.1:8000' }, { connect_info: '127.1.4.2:8000' }];
    expect(writeEndpoint({ endpoints: router, nodes })).toBe('127.1.4.1:8000');
    expect(writeEndpoint({ endpoints: nodes.map((n) => ({ connect_info: n.connect_info })), nodes })).toBe('127.0.4.2:8000');
    expect(writeEndpoint({ endpoints: [], nodes: [] })).toBeNull();
  });
  it('splits console routes', () => {
    expect(splitRoute('/console/')).toEqual([]);
    expect(splitRoute('/console')).toEqual([]);
    expect(splitRoute('/console/clusters/abc/tasks/t%201')).toEqual(['clusters', 'abc', 'tasks', 't 1']);
  });
});

describe('fieldOfError', () => {
  const fields: FieldMatch[] = [
    { name: 'name', paths: ['body.cluster.name'], words: ['cluster name'], codes: ['DWS.5050', 'DWS.5057', 'DWS.5056'] },
    { name: 'number_of_node', paths: ['body.cluster.number_of_node'], words: ['number_of_node'], codes: ['DWS.5047'] },
    { name: 'port', paths: ['body.cluster.port'], words: ['port'] },
    { name: 'user_name', paths: ['body.cluster.user_name'], words: ['administrator user name', 'user_name'], codes: ['DWS.5059'] },
    { name: 'user_pwd', paths: ['body.cluster.user_pwd'], words: ['password'], codes: ['DWS.5144', 'DWS.5145'] },
  ];
  it('places schema errors by the request path they name', () => {
    expect(fieldOfError('Invalid request: body.cluster.user_pwd is required', 'DWS.5144', fields)).toBe('user_pwd');
    expect(fieldOfError('Invalid request: body.cluster.port must be integer', 'DWS.0001', fields)).toBe('port');
    // a path that only starts like another field's path is not that field
    expect(fieldOfError('Invalid request: body.cluster.name_x is invalid', 'DWS.0001', fields)).toBeNull();
  });
  it('places service errors by their code, then by the words naming the field', () => {
    expect(fieldOfError('Invalid length of cluster name: "ab" must be 4 to 64 characters long', 'DWS.5056', fields)).toBe('name');
    expect(fieldOfError('The password must not be the user name or the user name reversed.', 'DWS.5145', fields)).toBe('user_pwd');
    expect(fieldOfError('Invalid request: port must be an integer from 1024 to 65535, got 80', 'DWS.0001', fields)).toBe('port');
    expect(fieldOfError('Invalid administrator user name: "X" must be 1 to 63 characters', 'DWS.0001', fields)).toBe('user_name');
  });
  it('leaves other messages for the top of the form', () => {
    expect(fieldOfError('This host cannot hold the request: 3 more nodes would pass its limit', 'DWS.9906', fields)).toBeNull();
  });
});

describe('parameter edits (the Parameters tab)', () => {
  const params = [
    { name: 'statement_timeout', values: [{ value: '0' }], readonly: false, restart_required: false },
    { name: 'max_locks_per_transaction', values: [{ value: '64' }], readonly: false, restart_required: true },
    { name: 'shared_buffers', values: [{ value: '16384' }], readonly: true, restart_required: true },
  ];

  it('sends only the values that differ, trimmed, never a read-only or unknown one', () => {
    expect(parameterChanges(params, {})).toEqual([]);
    expect(parameterChanges(params, { statement_timeout: ' 0 ', max_locks_per_transaction: '64' })).toEqual([]);
    expect(
      parameterChanges(params, { max_locks_per_transaction: '128', statement_timeout: ' 5000', shared_buffers: '1', nope: '1' }),
    ).toEqual([
      { name: 'statement_timeout', value: '5000' },
      { name: 'max_locks_per_transaction', value: '128' },
    ]);
    // an emptied value is a change: the API says what is wrong with it
    expect(parameterChanges(params, { statement_timeout: '' })).toEqual([{ name: 'statement_timeout', value: '' }]);
  });

  it('names the changes that restart the members', () => {
    expect(restartingChanges(params, [{ name: 'statement_timeout' }])).toEqual([]);
    expect(restartingChanges(params, [{ name: 'statement_timeout' }, { name: 'max_locks_per_transaction' }])).toEqual([
      'max_locks_per_transaction',
    ]);
  });

  it("places the API's refusal beside the parameter it names", () => {
    const fields = parameterFields(params);
    expect(fieldOfError('parameter max_locks_per_transaction: 5000 is above the maximum 1024', 'DWS.0001', fields)).toBe(
      'max_locks_per_transaction',
    );
    expect(fieldOfError('parameter archive_command cannot be set', 'DWS.0001', fields)).toBeNull();
  });

  it('finds the task an update started: a new newest audit record, else none', () => {
    expect(startedRecord(undefined, [])).toBeNull();
    expect(startedRecord('a', [{ id: 'a' }])).toBeNull();
    expect(startedRecord('a', [{ id: 'b' }, { id: 'a' }])).toEqual({ id: 'b' });
    expect(startedRecord(undefined, [{ id: 'b' }])).toEqual({ id: 'b' });
  });
});
