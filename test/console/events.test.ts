/** The console's helpers for a cluster's events (D26): their time, their severity's badge, the ListEvents path. */
import { describe, expect, it } from 'vitest';
import { clusterEventsPath, formatEventTime, severityClass } from '../../console/src/model.js';

describe('event helpers', () => {
  it('shows an event time in UTC to the second', () => {
    expect(formatEventTime(Date.UTC(2026, 11, 5, 9, 8, 7, 654))).toBe('2026-12-05 09:08:07');
    expect(formatEventTime(Number.NaN)).toBe('');
  });
  it('gives each severity its badge', () => {
    expect(['normal', 'warning', 'major', 'other'].map(severityClass)).toEqual(['ok', 'warn', 'bad', 'plain']);
  });
  it("asks ListEvents for one cluster's latest events", () => {
    expect(clusterEventsPath('a b/c', 20)).toBe('/v2/{project_id}/events?source_id=a%20b%2Fc&limit=20');
  });
});
