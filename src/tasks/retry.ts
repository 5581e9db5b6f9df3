/** Exponential back-off with jitter, capped (graphile-worker's calculateDelay). */
import { SECOND, MINUTE } from '../config/config.js';

export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(2 * MINUTE, SECOND * 2 ** attempt);
  return Math.round(base * (0.5 + random() / 2));
}
