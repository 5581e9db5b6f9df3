import { describe, expect, it } from 'vitest';
import { growCheckText, growProblems, maxShrink, newOrdinals, shrinkOrdinals, shrinkProblem, type GrowFigures } from './scale.js';

const fits: GrowFigures = {
  status: 'AVAILABLE',
  stopped: false,
  busyWith: null,
  primaryUp: true,
  existingOrdinals: [1, 2, 3],
  activeNodes: 3,
  count: 2,
  projectNodes: 3,
  projectQuota: 48,
  hostNodes: 3,
  hostNodeLimit: 64,
  memAvailableBytes: 8e9,
  memPerNodeBytes: 100e6,
  diskFreeBytes: 50e9,
  copyBytes: 40e6,
  port: 8000,
  wildcardListener: false,
  busyAddresses: [],
  downStandbys: [],
};

describe('node numbers', () => {
  it('a scale-out takes the lowest free numbers from 2, and none past 254', () => {
    expect(newOrdinals([1, 2, 3], 3)).toEqual([4, 5, 6]);
    expect(newOrdinals([1, 2, 5], 2)).toEqual([3, 4]);
    expect(newOrdinals([1, 2, 3], 251)).toHaveLength(251);
    expect(newOrdinals([1, 2, 3], 252)).toBeNull();
  });

  it('a scale-in removes the highest standbys, never the primary, never below 3 nodes', () => {
    const nodes = [1, 2, 3, 4, 5, 6].map((ordinal) => ({ ordinal, role: ordinal === 1 ? 'primary' : 'standby' }));
    expect(shrinkOrdinals(nodes, 3)).toEqual([6, 5, 4]);
    expect(shrinkOrdinals(nodes, 6)).not.toContain(1);
    expect(maxShrink(6)).toBe(3);
    expect(maxShrink(3)).toBe(0);
    expect(shrinkProblem(6, 3)).toBeNull();
    expect(shrinkProblem(6, 4)).toBe('a cluster keeps at least 3 nodes: this one has 6, so at most 3 nodes can be removed, not 4');
    expect(shrinkProblem(4, 2)).toBe('a cluster keeps at least 3 nodes: this one has 4, so at most 1 node can be removed, not 2');
    expect(shrinkProblem(3, 1)).toMatch(/so no node can be removed/);
    expect(shrinkProblem(6, 0)).toMatch(/at least 1/);
  });
});

describe('grow-check', () => {
  it('nothing stands in the way of a scale-out that fits', () => {
    expect(growProblems(fits)).toEqual([]);
  });

  it('names every blocker with its figures, in English and Chinese', () => {
    const ps = growProblems({ ...fits, count: 252, memPerNodeBytes: 1e9, diskFreeBytes: 1e9, busyAddresses: ['127.0.1.4:8000'] });
    expect(ps.map((p) => p.reason)).toEqual([
      'ADDRESS_RANGE',
      'ADDRESS_IN_USE',
      'NODE_QUOTA',
      'HOST_NODE_LIMIT',
      'HOST_MEMORY',
      'HOST_DISK',
    ]);
    expect(ps.every((p) => p.required)).toBe(true);
    const mem = ps.find((p) => p.reason === 'HOST_MEMORY')!;
    expect(growCheckText(mem, 'en')).toEqual({
      type: 'capacity',
      desc: '252 new nodes need 252000 MB of memory, more than this host has free now.',
    });
    expect(growCheckText(mem, 'zh')).toEqual({ type: '资源', desc: '252 个新节点需要 252000 MB 内存，超过本主机当前可用内存。' });
    const disk = ps.find((p) => p.reason === 'HOST_DISK')!;
    expect(disk.args).toEqual({ count: 252, need: 252 * 104 });
  });

  it("never shows the host's figures (free memory and disk, nodes of every project): only the request and the project's own quota", () => {
    const ps = growProblems({ ...fits, count: 30, projectNodes: 20, hostNodes: 61, memPerNodeBytes: 1e9, diskFreeBytes: 1e9 });
    expect(ps.map((p) => p.reason)).toEqual(['NODE_QUOTA', 'HOST_NODE_LIMIT', 'HOST_MEMORY', 'HOST_DISK']);
    for (const lang of ['en', 'zh'] as const) {
      const texts = ps.map((p) => growCheckText(p, lang).desc).join(' | ');
      // the host's free memory (8000 MB) and disk (1000 MB), its node count (61) and limit (64) appear nowhere
      for (const hostFigure of ['8000', '1000', '61', '64']) expect(texts, lang).not.toMatch(new RegExp(`\\b${hostFigure}\\b`));
      // the project's own figures do
      expect(growCheckText(ps[0]!, lang).desc).toMatch(/\b20\b.*\b30\b/);
    }
    for (const p of ps.filter((x) => x.reason.startsWith('HOST_')))
      expect(Object.keys(p.args).sort()).toEqual(p.reason === 'HOST_NODE_LIMIT' ? ['count'] : ['count', 'need']);
  });

  it('the cluster state comes first; a busy cluster is not also reported with a down primary', () => {
    expect(growProblems({ ...fits, busyWith: 'REBOOTING', primaryUp: false }).map((p) => p.reason)).toEqual(['CLUSTER_BUSY']);
    expect(growProblems({ ...fits, stopped: true, status: 'UNAVAILABLE' }).map((p) => p.reason)).toEqual(['CLUSTER_STOPPED']);
    expect(growProblems({ ...fits, status: 'UNAVAILABLE', primaryUp: false }).map((p) => p.reason)).toEqual(['CLUSTER_STATUS']);
    expect(growProblems({ ...fits, primaryUp: false }).map((p) => p.reason)).toEqual(['PRIMARY_DOWN']);
  });

  it('a standby that is down is a warning, not a blocker', () => {
    const [p] = growProblems({ ...fits, downStandbys: [3] });
    expect(p).toMatchObject({ reason: 'STANDBY_DOWN', required: false });
    expect(growCheckText(p!, 'zh').type).toBe('状态');
  });
});
