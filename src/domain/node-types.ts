/**
 * Node types (flavors). Each maps to real PostgreSQL settings; `memoryBytes` is what one
 * node of the type is budgeted to use on this host (shared_buffers plus per-connection
 * work memory), and capacity checks count it against the host's available memory (D18).
 * `vcpus`/`ram` are the nominal figures DWS clients filter on; the `detail` says what they
 * really mean here.
 */
export interface NodeType {
  specName: string;
  id: string;
  vcpus: number;
  ramGb: number;
  diskGb: number;
  settings: {
    shared_buffers: string;
    max_connections: number;
    work_mem: string;
    maintenance_work_mem: string;
    effective_cache_size: string;
  };
  /** host memory budget per node, bytes */
  memoryBytes: number;
}

const MIB = 1024 * 1024;

export const NODE_TYPES: readonly NodeType[] = [
  {
    specName: 'dwsx.small',
    id: 'a8e3c0a4-8c4e-4d5d-9d44-000000000001',
    vcpus: 1,
    ramGb: 1,
    diskGb: 20,
    settings: { shared_buffers: '32MB', max_connections: 40, work_mem: '4MB', maintenance_work_mem: '32MB', effective_cache_size: '256MB' },
    memoryBytes: 96 * MIB,
  },
  {
    specName: 'dws.m3.xlarge',
    id: 'a8e3c0a4-8c4e-4d5d-9d44-000000000002',
    vcpus: 4,
    ramGb: 16,
    diskGb: 100,
    settings: { shared_buffers: '128MB', max_connections: 100, work_mem: '4MB', maintenance_work_mem: '64MB', effective_cache_size: '1GB' },
    memoryBytes: 320 * MIB,
  },
  {
    specName: 'dws.m1.xlarge.ultrahigh',
    id: 'a8e3c0a4-8c4e-4d5d-9d44-000000000003',
    vcpus: 4,
    ramGb: 32,
    diskGb: 200,
    settings: {
      shared_buffers: '256MB',
      max_connections: 200,
      work_mem: '4MB',
      maintenance_work_mem: '128MB',
      effective_cache_size: '2GB',
    },
    memoryBytes: 640 * MIB,
  },
  {
    specName: 'dws.d2.2xlarge',
    id: 'a8e3c0a4-8c4e-4d5d-9d44-000000000004',
    vcpus: 8,
    ramGb: 64,
    diskGb: 400,
    settings: {
      shared_buffers: '512MB',
      max_connections: 300,
      work_mem: '8MB',
      maintenance_work_mem: '256MB',
      effective_cache_size: '4GB',
    },
    memoryBytes: 1280 * MIB,
  },
];

export const DEFAULT_NODE_TYPE = 'dwsx.small';
export const DATASTORE_VERSION = '15.0';
export const AVAILABILITY_ZONE = 'local-1a';

export function findNodeType(name: string): NodeType | undefined {
  return NODE_TYPES.find((t) => t.specName === name || t.id === name);
}
