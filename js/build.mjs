// Bundle src/index.js into ONE ES module at ../ttvis_widget/static/widget.js (anywidget `_esm` file path).
// Prints raw and gzipped sizes; fails when the gzipped bundle exceeds the 300 KB budget.
import * as esbuild from "esbuild";
import { readFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outfile = resolve(here, "../ttvis_widget/static/widget.js");
const watch = process.argv.includes("--watch");
const BUDGET_GZ = 300 * 1024;

mkdirSync(dirname(outfile), { recursive: true });

const options = {
  entryPoints: [resolve(here, "src/index.js")],
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  outfile,
  legalComments: "none",
  logLevel: "warning",
};

function report() {
  const buf = readFileSync(outfile);
  const gz = gzipSync(buf, { level: 9 }).length;
  const kb = (n) => (n / 1024).toFixed(1) + " KB";
  console.log(`built ${outfile}: ${kb(buf.length)} (${kb(gz)} gzipped)`);
  if (gz > BUDGET_GZ) {
    console.error(`bundle exceeds the ${kb(BUDGET_GZ)} gzipped budget`);
    process.exitCode = 1;
  }
}

if (watch) {
  const ctx = await esbuild.context({
    ...options,
    plugins: [{ name: "report", setup(b) { b.onEnd((r) => { if (!r.errors.length) report(); }); } }],
  });
  await ctx.watch();
  console.log("watching js/src ... (set ANYWIDGET_HMR=1 in the kernel for hot reload)");
} else {
  await esbuild.build(options);
  report();
}
