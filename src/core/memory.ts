/**
 * This process's memory, in MB, for run summaries: resident set now and at its peak, and the main thread's share as
 * V8 sees it (its heap; external memory, of which array buffers — typed arrays, shared memory included).
 */
export interface MemoryFigures {
  rssMB: number;
  peakRssMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
  arrayBuffersMB: number;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

export function memoryFigures(): MemoryFigures {
  const m = process.memoryUsage();
  return {
    rssMB: mb(m.rss),
    // maxRSS is in kB.
    peakRssMB: mb(process.resourceUsage().maxRSS * 1024),
    heapUsedMB: mb(m.heapUsed),
    heapTotalMB: mb(m.heapTotal),
    externalMB: mb(m.external),
    arrayBuffersMB: mb(m.arrayBuffers),
  };
}
