import { describe, expect, it } from 'vitest';
import { AppError } from '../errors/app-error.js';
import { freeTextProblem, validateDescription, validateTags } from './text-fields.js';

const HOSTILE = [
  '<script>alert(1)</script>',
  'say "hi"',
  "it's",
  'a=b',
  'fish & chips',
  'wow!',
  'tab\there',
  'line\nbreak',
  'nul\u0000',
  'del\u007f',
];

function refusal(fn: () => void): AppError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('not refused');
}

describe('free text (descriptions, tag keys and values)', () => {
  it("refuses DWS's ! < > ' = & \" and control characters, with one message", () => {
    for (const t of HOSTILE)
      expect(freeTextProblem(t, 256), JSON.stringify(t)).toBe('must not contain ! < > \' = & " or control characters');
  });

  it('accepts ordinary text, Chinese and emoji, and the empty string', () => {
    for (const t of ['', 'Team analytics (EU), v2.1 - nightly; owner: ops@example', '数据仓库', '📊 reports', 'a/b\\c?*#%+,:;@[]{}|~`$'])
      expect(freeTextProblem(t, 256), t).toBeNull();
  });

  it('a description is at most 256 characters; the error names the field (400 DWS.0001)', () => {
    validateDescription('cluster.cluster_description_info', 'x'.repeat(256));
    const e = refusal(() => validateDescription('cluster.cluster_description_info', 'x'.repeat(257)));
    expect({ status: e.httpStatus, code: e.wireCode }).toEqual({ status: 400, code: 'DWS.0001' });
    expect(e.message).toMatch(/cluster\.cluster_description_info must be at most 256/);
    expect(refusal(() => validateDescription('snapshot.description', '<b>')).message).toMatch(/snapshot\.description must not contain/);
  });

  it('tags: the same rule for keys and values, keys unique, 1 to 128 characters without surrounding spaces, values at most 255, at most 20', () => {
    validateTags([
      { key: 'team', value: '数据' },
      { key: 'env', value: '' },
    ]);
    for (const t of HOSTILE) {
      expect(refusal(() => validateTags([{ key: t, value: 'v' }])).message).toMatch(/tags: a key must not contain/);
      expect(refusal(() => validateTags([{ key: 'k', value: t }], 'cluster.tags')).message).toMatch(
        /cluster\.tags: the value of k must not contain/,
      );
    }
    expect(refusal(() => validateTags([{ key: '', value: 'v' }])).message).toMatch(/1 to 128/);
    expect(refusal(() => validateTags([{ key: 'k'.repeat(129), value: 'v' }])).message).toMatch(/1 to 128/);
    expect(refusal(() => validateTags([{ key: ' k', value: 'v' }])).message).toMatch(/space/);
    expect(refusal(() => validateTags([{ key: 'k', value: 'v'.repeat(256) }])).message).toMatch(/at most 255/);
    expect(
      refusal(() =>
        validateTags([
          { key: 'k', value: '1' },
          { key: 'k', value: '2' },
        ]),
      ).message,
    ).toMatch(/appears twice/);
    expect(refusal(() => validateTags(Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, value: '' })))).message).toMatch(/at most 20/);
  });
});
