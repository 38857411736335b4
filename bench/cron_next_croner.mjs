// croner's side of bench/cron_next.sh: nanoseconds per next-fire call for the
// rows of bench/cron_expressions.txt, timed like bench/cron_next_bench.cpp.
//
//   node bench/cron_next_croner.mjs [--quick] [--file PATH]
//
// croner comes from the repository's node_modules (npm ci at the root). Rows
// with a zone other than UTC use croner's `timezone` option; UTC rows run
// without it, in a process whose TZ is UTC (croner then uses plain Dates).
// Output, one line per row: label<TAB>median ns per call<TAB>first fire
// (epoch seconds), or label<TAB>n/a<TAB>reason. Calls are chained through
// nextRun(previous) and start over when a result reaches 2037.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const START = 1767225600 * 1000; // 2026-01-01T00:00:00Z
const HORIZON = 2114380800 * 1000; // 2037-01-01T00:00:00Z

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const fileAt = args.indexOf("--file");
const file = fileAt >= 0 ? args[fileAt + 1] : join(here, "cron_expressions.txt");

if (process.env.TZ !== "UTC") {
  console.error("cron_next_croner.mjs: run with TZ=UTC (UTC rows use croner without a timezone)");
  process.exit(2);
}

let Cron;
let version = "?";
try {
  ({ Cron } = await import("croner"));
  const pkg = JSON.parse(readFileSync(join(here, "..", "node_modules", "croner", "package.json")));
  version = pkg.version;
} catch (e) {
  console.error(`croner is not installed (npm ci at the repository root): ${e.message}`);
  process.exit(3);
}

const [calls, reps] = quick ? [50, 3] : [2000, 15];
console.log(`# croner ${version}, ${calls} chained calls x ${reps} batches per row, median`);
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (!line || line.startsWith("#")) continue;
  const parts = line.split("\t");
  const [label, zone] = parts;
  const spelling = parts.length > 4 ? parts[4] : "=";
  const expr = spelling === "=" ? parts[2] : spelling;
  if (expr === "-") {
    console.log(`${label}\tn/a\tno such syntax in croner`);
    continue;
  }
  let job;
  let first;
  const start = new Date(START);
  try {
    job = new Cron(expr, zone === "UTC" ? {} : { timezone: zone });
    first = job.nextRun(start);
  } catch (e) {
    console.log(`${label}\tn/a\t${e.message}`);
    continue;
  }
  const samples = [];
  let sink = 0;
  for (let r = 0; r <= reps; r++) {
    // Batch 0 warms up the JIT, untimed.
    let t = start;
    const begin = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      const next = job.nextRun(t);
      t = next === null || next.getTime() >= HORIZON ? start : next;
    }
    if (r > 0) samples.push(Number(process.hrtime.bigint() - begin) / calls);
    sink += t.getTime();
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  console.log(`${label}\t${median.toFixed(1)}\t${first === null ? "none" : first.getTime() / 1000}`);
  if (sink === -1) console.log(sink); // keeps the results observably used
}
