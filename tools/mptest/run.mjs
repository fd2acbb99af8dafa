// MicroPython test tier: runs tests/mp/test_*.py under the official WebAssembly build of
// MicroPython, in Node. Each test module gets a fresh interpreter with the device files mounted
// the way the board sees them (lib/ on sys.path, firmware/ as the root app, boards/ as a package).
//
// The WebAssembly port has no native emitter, so `@micropython.viper` / `@micropython.native`
// decorator lines are blanked when files are mounted: the kernels run as plain Python, and line
// numbers in tracebacks stay true. Everything else is loaded byte for byte.
// Its twin for the unix port, where the kernels run native, is run_unix.py (same harness).
//
// usage: node tools/mptest/run.mjs [-k SUBSTRING] [--bench-out FILE] [FILES...]
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const SHARED = path.resolve(ROOT, "..", "shared");
const MODULE_TIMEOUT_MS = 300_000;
const MAX_MOUNT_BYTES = 8 * 1024 * 1024;
const DECORATOR = /^(\s*)@micropython\.(viper|native)\s*$/gm;

function parseArgs(argv) {
  const opts = { filter: "", benchOut: "", files: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "-k") opts.filter = argv[++i];
    else if (argv[i] === "--bench-out") opts.benchOut = argv[++i];
    else opts.files.push(argv[i]);
  }
  if (opts.files.length === 0) {
    const dir = path.join(ROOT, "tests", "mp");
    opts.files = fs.readdirSync(dir).filter((f) => /^test_.*\.py$/.test(f)).sort()
      .map((f) => path.join(dir, f));
  }
  return opts;
}

function* walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
  }
}

function mountTree(mp, hostDir, targetDir, onlyPython) {
  for (const file of walk(hostDir)) {
    if (onlyPython && !file.endsWith(".py")) continue;
    if (fs.statSync(file).size > MAX_MOUNT_BYTES) continue;
    const target = path.posix.join(targetDir, path.relative(hostDir, file).split(path.sep).join("/"));
    mp.FS.mkdirTree(path.posix.dirname(target));
    if (file.endsWith(".py")) {
      mp.FS.writeFile(target, fs.readFileSync(file, "utf8").replace(DECORATOR, "$1# (viper decorator stripped for this tier)"));
    } else {
      mp.FS.writeFile(target, fs.readFileSync(file));
    }
  }
}

async function runModule(file, opts, bench) {
  const lines = [];
  const mp = await loadMicroPython({
    stdout: (line) => {
      if (line.startsWith("@@BENCH ")) bench.push(JSON.parse(line.slice(8)));
      else if (line.startsWith("@@RESULT ")) lines.push(line);
      else console.log(line);
    },
    stderr: (line) => console.error(line),
  });
  mountTree(mp, path.join(ROOT, "lib"), "/lib", true);
  mountTree(mp, path.join(ROOT, "firmware"), "/firmware", true);
  mountTree(mp, path.join(ROOT, "boards"), "/boards", true);
  mountTree(mp, path.join(ROOT, "tests"), "/tests", false);
  mountTree(mp, HERE, "/harness", true);
  // mptest.py imports it: the host's `compat` for the tests' stream fakes, never deployed.
  mp.FS.writeFile("/harness/hostcompat.py", fs.readFileSync(path.join(ROOT, "tools", "hostcompat.py")));
  const haveShared = fs.existsSync(path.join(SHARED, "fixtures"));
  if (haveShared) mountTree(mp, path.join(SHARED, "fixtures"), "/shared/fixtures", false);
  const name = path.basename(file, ".py");
  const code = [
    "import sys",
    "sys.path[:] = ['/harness', '', '/lib', '/firmware', '/', '/tests/mp', '.frozen']",
    "import mptest",
    "mptest.TIER = 'webassembly'",
    `mptest.SHARED = ${haveShared ? "'/shared'" : "None"}`,
    `await mptest.run_module(${JSON.stringify(name)}, ${JSON.stringify(opts.filter)})`,
  ].join("\n");
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${MODULE_TIMEOUT_MS} ms`)), MODULE_TIMEOUT_MS);
  });
  try {
    await Promise.race([mp.runPythonAsync(code), timeout]);
  } finally {
    clearTimeout(timer);
  }
  const result = lines.pop();
  if (!result) throw new Error("module did not report a result");
  const [passed, failed, skipped] = result.split(" ").slice(1).map(Number);
  return { passed, failed, skipped };
}

const opts = parseArgs(process.argv.slice(2));
const totals = { passed: 0, failed: 0, skipped: 0, broken: [] };
const bench = [];
for (const file of opts.files) {
  try {
    const r = await runModule(file, opts, bench);
    totals.passed += r.passed;
    totals.failed += r.failed;
    totals.skipped += r.skipped;
  } catch (err) {
    const message = String(err.message || err).trim().split("\n").slice(-3).join(" | ");
    console.log(`ERROR ${path.basename(file)}: ${message}`);
    totals.failed += 1;
    totals.broken.push(path.basename(file));
  }
}
if (opts.benchOut) fs.writeFileSync(opts.benchOut, JSON.stringify(bench, null, 1));
console.log(
  `micropython: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped` +
    ` (${opts.files.length} modules${totals.broken.length ? "; broken: " + totals.broken.join(", ") : ""})`,
);
process.exit(totals.failed || (totals.passed === 0 && opts.files.length) ? 1 : 0);
