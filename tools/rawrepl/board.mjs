// A MicroPython "board" on stdin/stdout: the official WebAssembly build behind the REPL protocol
// mpremote speaks to a real ESP32 (friendly REPL, raw REPL, raw-paste mode, soft and hard reset).
// tools/rawrepl/ptyboard.py puts it behind a pseudo-terminal, so `mpremote connect /dev/pts/N`
// really copies files into its filesystem and `main.py` really runs at boot.
//
// The board's flash is a host directory (--flash DIR): loaded at every boot, written back after
// every command, so tests inspect exactly what mpremote left there.
//
// Limits, by construction of the WebAssembly port: no machine/network hardware (a `machine`
// module with reset()/soft_reset()/unique_id() is provided so `mpremote reset` works), no
// native/viper code (.mpy files with native code refuse to import, as on any port without it),
// and Ctrl-C cannot interrupt code that is already running (JavaScript is single-threaded):
// it only takes effect between commands.
//
// usage: node tools/rawrepl/board.mjs --flash DIR
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.join(HERE, "..", "mptest", "node_modules", "@micropython",
  "micropython-webassembly-pyscript", "micropython.mjs");
const { loadMicroPython } = await import(pathToFileURL(PKG).href);

const SYSTEM_DIRS = new Set(["dev", "proc", "tmp", "home"]);
const PASTE_WINDOW = 512;
const BANNER = "MicroPython (WebAssembly) on a pty board (tools/rawrepl); Type \"help()\" for more information.\r\n";
const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n>";

const args = process.argv.slice(2);
const flashDir = path.resolve(args[args.indexOf("--flash") + 1] || "flash");
fs.mkdirSync(flashDir, { recursive: true });

let mp = null;
let mode = "friendly"; // friendly | raw | paste | pasteStart
let command = [];
let pasteCount = 0;
let line = "";
let resetRequested = null; // null | "hard" | "soft"
let outBuf = [];

function send(text) {
  outBuf.push(...Buffer.from(text, "latin1"));
}

function flush() {
  if (outBuf.length) {
    process.stdout.write(Buffer.from(outBuf));
    outBuf = [];
  }
}

// stdout of the interpreter, "cooked" like a real port: \n becomes \r\n.
function onOutput(bytes) {
  for (const c of bytes) {
    if (c === 10) outBuf.push(13);
    outBuf.push(c);
  }
}

function* walkHost(dir, rel = "") {
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? rel + "/" + entry.name : entry.name;
    if (entry.isDirectory()) {
      yield [r, true];
      yield* walkHost(dir, r);
    } else if (entry.isFile()) yield [r, false];
  }
}

function* walkBoard(rel = "") {
  for (const name of mp.FS.readdir("/" + rel)) {
    if (name === "." || name === "..") continue;
    if (!rel && SYSTEM_DIRS.has(name)) continue;
    const r = rel ? rel + "/" + name : name;
    const st = mp.FS.stat("/" + r);
    if (mp.FS.isDir(st.mode)) {
      yield [r, true];
      yield* walkBoard(r);
    } else yield [r, false];
  }
}

function loadFlash() {
  for (const [rel, isDir] of walkHost(flashDir)) {
    if (isDir) mp.FS.mkdirTree("/" + rel);
    else mp.FS.writeFile("/" + rel, fs.readFileSync(path.join(flashDir, rel)));
  }
}

// Mirror the board's filesystem into the flash directory (write changed, delete removed).
function saveFlash() {
  if (!mp) return;
  const seen = new Set();
  for (const [rel, isDir] of walkBoard()) {
    seen.add(rel);
    const host = path.join(flashDir, rel);
    if (isDir) {
      fs.mkdirSync(host, { recursive: true });
      continue;
    }
    const data = Buffer.from(mp.FS.readFile("/" + rel));
    if (!fs.existsSync(host) || !data.equals(fs.readFileSync(host))) fs.writeFileSync(host, data);
  }
  const stale = [...walkHost(flashDir)].filter(([rel]) => !seen.has(rel)).reverse();
  for (const [rel, isDir] of stale) {
    if (isDir) fs.rmdirSync(path.join(flashDir, rel));
    else fs.unlinkSync(path.join(flashDir, rel));
  }
}

const HELPERS = [
  "def _board_run(_src, _how='exec', _name='<stdin>'):",
  "    global _board_exc",
  "    _board_exc = None",
  "    try:",
  "        exec(compile(_src, _name, _how), globals())",
  "    except BaseException as _e:",
  "        _board_exc = _e",
  // The WebAssembly VFS raises Emscripten errno numbers (ENOENT is 44 there); a board prints
  // MicroPython's ("[Errno 2] ENOENT"), and mpremote parses exactly that to raise
  // FileNotFoundError and friends. Translate the printed line, nothing else.
  "_BOARD_ERRNO = {44: (2, 'ENOENT'), 20: (17, 'EEXIST'), 54: (20, 'ENOTDIR'),",
  "                31: (21, 'EISDIR'), 28: (22, 'EINVAL'), 55: (39, 'ENOTEMPTY')}",
  "def _board_report():",
  "    import io, sys",
  "    e = _board_exc",
  "    if e is None:",
  "        return",
  "    s = io.StringIO()",
  "    sys.print_exception(e, s)",
  "    lines = [x for x in s.getvalue().split('\\n') if x and 'in _board_run' not in x]",
  "    if isinstance(e, OSError) and len(e.args) == 1 and e.args[0] in _BOARD_ERRNO:",
  "        lines[-1] = 'OSError: [Errno %d] %s' % _BOARD_ERRNO[e.args[0]]",
  "    print('\\n'.join(lines))",
].join("\n");

// Run source in __main__; stdout goes to the terminal, a traceback is printed by report().
function run(source, how = "exec", name = "<stdin>") {
  mp.globals.set("_board_src", source);
  mp.runPython(`_board_run(_board_src, ${JSON.stringify(how)}, ${JSON.stringify(name)})`);
  mp.globals.delete("_board_src");
}

function report() {
  mp.runPython("_board_report()");
}

function runFile(name) {
  let text;
  try {
    text = Buffer.from(mp.FS.readFile("/" + name)).toString("utf8");
  } catch {
    return;
  }
  run(text, "exec", name);
  report();
}

async function boot(runMain) {
  if (mp) saveFlash();
  mp = await loadMicroPython({ stdout: onOutput, stderr: onOutput, linebuffer: false });
  loadFlash();
  mp.registerJsModule("machine", {
    reset: () => { resetRequested = "hard"; },
    soft_reset: () => { resetRequested = "soft"; },
    unique_id: () => new Uint8Array([0x70, 0x74, 0x79, 0x00, 0x00, 0x01]),
  });
  mp.runPython(HELPERS);
  runFile("boot.py");
  // As on the ESP32 port: main.py runs only when the board comes up in the friendly REPL.
  if (runMain) runFile("main.py");
  saveFlash();
}

async function afterCommand() {
  saveFlash();
  if (resetRequested) {
    const hard = resetRequested === "hard";
    resetRequested = null;
    mode = "friendly";
    flush();
    if (hard) send("\r\nets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n");
    else send("MPY: soft reboot\r\n");
    await boot(true);
    send(BANNER + ">>> ");
  }
}

async function execute(source, pasted) {
  if (!pasted) send("OK");
  run(source);
  send("\x04");
  report();
  send("\x04>");
  await afterCommand();
}

async function handle(c) {
  if (mode === "pasteStart") {
    // After Ctrl-E in raw mode the host sends "A\x01" to ask for raw-paste mode.
    if (c === 0x01) {
      const w = Buffer.alloc(2);
      w.writeUInt16LE(PASTE_WINDOW);
      send("R\x01" + w.toString("latin1"));
      mode = "paste";
      command = [];
      pasteCount = 0;
    }
    return;
  }
  if (mode === "paste") {
    if (c === 0x04) {
      send("\x04");
      mode = "raw";
      const source = Buffer.from(command).toString("utf8");
      command = [];
      await execute(source, true);
      return;
    }
    command.push(c);
    if (++pasteCount >= PASTE_WINDOW) {
      pasteCount = 0;
      send("\x01"); // the host may send another window
    }
    return;
  }
  if (mode === "raw") {
    if (c === 0x01) {
      command = [];
      send("\r\n" + RAW_BANNER);
    } else if (c === 0x02) {
      mode = "friendly";
      send("\r\n" + BANNER + ">>> ");
    } else if (c === 0x03) {
      command = [];
    } else if (c === 0x05 && command.length === 0) {
      mode = "pasteStart";
    } else if (c === 0x04) {
      if (command.length === 0) {
        send("OK\r\nMPY: soft reboot\r\n");
        flush();
        await boot(false);
        send(RAW_BANNER);
      } else {
        const source = Buffer.from(command).toString("utf8");
        command = [];
        await execute(source, false);
      }
    } else {
      command.push(c);
    }
    return;
  }
  // friendly REPL: enough for `mpremote repl` / `make repl` by hand.
  if (c === 0x01) {
    mode = "raw";
    command = [];
    send("\r\n" + RAW_BANNER);
  } else if (c === 0x03) {
    line = "";
    send("\r\nKeyboardInterrupt\r\n>>> ");
  } else if (c === 0x04) {
    send("\r\nMPY: soft reboot\r\n");
    flush();
    await boot(true);
    send(BANNER + ">>> ");
  } else if (c === 0x0d) {
    send("\r\n");
    if (line.trim()) {
      run(line, "single");
      report();
      await afterCommand();
    }
    line = "";
    if (mode === "friendly") send(">>> ");
  } else if (c === 0x7f || c === 0x08) {
    if (line) {
      line = line.slice(0, -1);
      send("\b \b");
    }
  } else if (c >= 0x20 || c === 0x09) {
    line += String.fromCharCode(c);
    send(String.fromCharCode(c));
  }
}

// Bytes are handled strictly in order, one at a time, even across an async reboot.
let queue = Promise.resolve();
process.stdin.on("data", (chunk) => {
  queue = queue.then(async () => {
    for (const c of chunk) await handle(c);
    flush();
  }).catch((err) => {
    process.stderr.write("board: " + (err.stack || err) + "\n");
  });
});
process.stdin.on("end", () => {
  queue.then(() => {
    saveFlash();
    process.exit(0);
  });
});
process.on("SIGTERM", () => {
  queue.then(() => {
    saveFlash();
    process.exit(0);
  });
});

await boot(true);
send(BANNER + ">>> ");
flush();
