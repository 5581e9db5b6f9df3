/**
 * A uPlot chart mounted the console's way (monitoring.tsx, disaster-recovery-pages.tsx): as wide
 * as its box and following the box's width, and registered as `window.__dwsboxCharts[key]`,
 * where the browser tests read what it plots.
 */
import uPlot from 'uplot';

declare global {
  interface Window {
    /** the console's uPlot instances: the monitoring tab's by indicator name (read by test/e2e/console-monitoring.test.ts), a pairing's lag as `dr.lag` (test/e2e/console-dr.test.ts) */
    __dwsboxCharts?: Record<string, uPlot>;
  }
}

/** The chart on `el`; `unmount` (an effect's clean-up) stops following the box, destroys it and forgets it. */
export function mountChart(
  el: HTMLElement,
  opts: uPlot.Options,
  data: uPlot.AlignedData,
  key: string,
): { plot: uPlot; unmount: () => void } {
  const u = new uPlot(opts, data, el);
  (window.__dwsboxCharts ??= {})[key] = u;
  const resize = new ResizeObserver(() => {
    const w = Math.max(200, el.clientWidth);
    if (w !== u.width) u.setSize({ width: w, height: opts.height });
  });
  resize.observe(el);
  return {
    plot: u,
    unmount: () => {
      resize.disconnect();
      u.destroy();
      if (window.__dwsboxCharts?.[key] === u) delete window.__dwsboxCharts[key];
    },
  };
}
