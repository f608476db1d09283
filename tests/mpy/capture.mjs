// Run MicroPython (the WebAssembly port from npm) and capture, in the same
// moment, its whole linear memory (a raw 32-bit RAM dump with base 0) and what
// it printed.  The copy is taken inside the stdout callback, when the last line
// of a `micropython.mem_info(1)` table arrives (its blocks add up to the
// `GC: total:` of its header): printing does not allocate on the GC heap, so
// the dump holds exactly the heap that the text describes.  (This port's
// gc.collect() does nothing; it collects when an outer call from JavaScript
// begins, so a script run after another sees the first one's garbage freed.)
//
// usage: node capture.mjs --heapsize N --out PREFIX SCRIPT.upy [SCRIPT.upy ...]
// writes PREFIX.bin (one snapshot per completed mem_info(1) table, each padded
// with zeros to the largest), PREFIX.K.txt (the output up to and including
// table K), and prints a JSON summary.
import { readFileSync, writeFileSync } from "node:fs";

let instance = null;
const keep = (result) => {
  instance = result.instance ?? result;
  return result;
};
const origInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async function (...args) {
  return keep(await origInstantiate.apply(this, args));
};
const origStreaming = WebAssembly.instantiateStreaming;
if (origStreaming) {
  WebAssembly.instantiateStreaming = async function (...args) {
    return keep(await origStreaming.apply(this, args));
  };
}

const argv = process.argv.slice(2);
let heapsize = 1024 * 1024;
let out = null;
const scripts = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--heapsize") heapsize = Number(argv[++i]);
  else if (argv[i] === "--out") out = argv[++i];
  else scripts.push(argv[i]);
}
if (!out || scripts.length === 0) {
  console.error("usage: node capture.mjs --heapsize N --out PREFIX SCRIPT.py...");
  process.exit(2);
}

const BLOCK = 16; // 4 words of 4 bytes: the wasm port is 32-bit
const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");
let memory = null;
let lines = [];
let totalBlocks = null;
let covered = 0;
const dumps = [];
const texts = [];
const onLine = (raw) => {
  lines.push(raw);
  const line = raw.replace(/\r$/, ""); // the port prints "\r\n" (cooked stdout)
  let m;
  if ((m = /^GC: total: (\d+)/.exec(line))) {
    totalBlocks = Number(m[1]) / BLOCK;
    covered = 0;
  } else if (totalBlocks !== null && (m = /^[0-9a-f]{5,8}: (.*)$/.exec(line))) {
    covered += m[1].length;
  } else if (totalBlocks !== null && (m = /^ +\((\d+) lines all free\)$/.exec(line))) {
    covered += 64 * Number(m[1]);
  }
  if (totalBlocks !== null && covered === totalBlocks && memory !== null) {
    dumps.push(new Uint8Array(memory.buffer.slice(0)));
    texts.push(lines.join("\n") + "\n");
    lines = [];
    totalBlocks = null;
  }
};
const mp = await loadMicroPython({ heapsize, stdout: onLine, stderr: (l) => lines.push(l) });
if (!instance) throw new Error("did not catch the WebAssembly instance");
memory = Object.values(instance.exports).find((v) => v instanceof WebAssembly.Memory);

for (const path of scripts) mp.runPython(readFileSync(path, "utf8"));
if (dumps.length === 0) {
  console.error("no complete mem_info(1) table was printed");
  process.exit(1);
}
texts.forEach((t, k) => writeFileSync(`${out}.${k}.txt`, t));
const size = Math.max(...dumps.map((d) => d.length));
const all = new Uint8Array(size * dumps.length);
dumps.forEach((d, k) => all.set(d, k * size));
writeFileSync(`${out}.bin`, all);
console.log(JSON.stringify({ snapshot_size: size, snapshots: dumps.length, heapsize }));
