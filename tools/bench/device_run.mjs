// Runs Python code in a fresh MicroPython WebAssembly interpreter (the pinned build in
// tools/mptest/node_modules) with host directories copied in byte for byte: the device
// benchmarks mount the deployed tree (.mpy files as `make deploy` builds them), unlike
// tools/mptest/run.mjs, which mounts the sources and blanks viper decorators.
//
// usage: node tools/bench/device_run.mjs --mount HOST:TARGET [...] [--chdir DIR] --code CODE
// CODE may use top-level await. Output lines pass through; exit 1 if the code raised.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const PKG = path.join(ROOT, "tools", "mptest", "node_modules", "@micropython",
  "micropython-webassembly-pyscript", "micropython.mjs");
const TIMEOUT_MS = 300_000;

function parseArgs(argv) {
  const opts = { mounts: [], chdir: "", code: "" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--mount") {
      const spec = argv[++i];
      const at = spec.lastIndexOf(":");
      opts.mounts.push([spec.slice(0, at), spec.slice(at + 1)]);
    } else if (argv[i] === "--chdir") opts.chdir = argv[++i];
    else if (argv[i] === "--code") opts.code = argv[++i];
    else throw new Error("unknown argument " + argv[i]);
  }
  return opts;
}

function copyTree(mp, hostDir, targetDir) {
  mp.FS.mkdirTree(targetDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const host = path.join(hostDir, entry.name);
    const target = path.posix.join(targetDir, entry.name);
    if (entry.isDirectory()) copyTree(mp, host, target);
    else if (entry.isFile()) mp.FS.writeFile(target, fs.readFileSync(host));
  }
}

const opts = parseArgs(process.argv.slice(2));
const { loadMicroPython } = await import(pathToFileURL(PKG).href);
const mp = await loadMicroPython({
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});
for (const [host, target] of opts.mounts) {
  if (fs.statSync(host).isDirectory()) copyTree(mp, host, target);
  else {
    mp.FS.mkdirTree(path.posix.dirname(target));
    mp.FS.writeFile(target, fs.readFileSync(host));
  }
}
if (opts.chdir) mp.FS.chdir(opts.chdir);
let timer;
const timeout = new Promise((_, reject) => {
  timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
});
try {
  await Promise.race([mp.runPythonAsync(opts.code), timeout]);
} catch (err) {
  console.log("ERROR " + String(err.message || err).trim().split("\n").slice(-4).join(" | "));
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
}
process.exit(process.exitCode || 0);
