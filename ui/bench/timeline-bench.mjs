// Timeline benchmark (not a test): first draw and pan/zoom frame times at
// 1M events in headless Chromium. `npm run bench` from ui/; prints a
// Markdown table for docs/benchmarks.md.

import { fileURLToPath } from "node:url";
import path from "node:path";
import { build } from "vite";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, "dist");
await build({
  root: here,
  base: "./",
  logLevel: "warn",
  build: { outDir, emptyOutDir: true, target: "es2022" },
});

const n = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--allow-file-access-from-files", "--js-flags=--expose-gc", "--enable-precise-memory-info"],
});
try {
  // The synthetic million, and an hour of the app's endless demo as its history opens.
  for (const kase of (process.env.BENCH_CASES ?? "synthetic,demo-hour").split(",")) {
    const page = await browser.newPage({ viewport: { width: 1700, height: 800 } });
    page.on("console", (m) => {
      if (m.type() === "error") console.error(m.text());
    });
    await page.goto(`file://${outDir}/index.html?n=${n}&case=${kase}`);
    await page.waitForFunction(() => window.benchResult !== undefined, null, { timeout: 300_000 });
    const r = await page.evaluate(() => window.benchResult);
    if (r.error) throw new Error(r.error);
    await page.screenshot({ path: path.join(here, "..", "..", "ci-artifacts", `bench-timeline-${kase}.png`) });
    await page.close();
    const f = (x) => x.toFixed(1);
    console.log(`\n${r.case}: ${r.n} events on ${r.lanes} lanes, ingest ${f(r.ingestMs)} ms, first draw ${f(r.firstDrawMs)} ms\n`);
    if (r.heap) {
      const mib = (b) => (b / 1048576).toFixed(1);
      const total = r.heap.events + r.heap.storeAndTimeline;
      console.log(`JS heap after GC: the events ${mib(r.heap.events)} MiB, the store and timeline beyond them ${mib(r.heap.storeAndTimeline)} MiB; ${Math.round(total / r.n)} B an event in all\n`);
    }
    console.log("| interaction | frames | draw p50 | draw p95 | draw max | frame p50 | frame p95 |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const x of r.results) {
      console.log(`| ${x.label} | ${x.frames} | ${f(x.drawP50)} ms | ${f(x.drawP95)} ms | ${f(x.drawMax)} ms | ${f(x.frameP50)} ms | ${f(x.frameP95)} ms |`);
    }
  }
} finally {
  await browser.close();
}
