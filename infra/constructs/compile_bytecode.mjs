// Compile a Lambda bundle's .py files to CPython 3.13 bytecode without a local python3.13:
// runs infra/constructs/compile_tree.py inside Pyodide (CPython 3.13 built for WebAssembly,
// shipped whole in the `pyodide` npm package pinned in package.json; nothing is downloaded).
// Bytecode is platform independent, so .pyc files written here load on Lambda's arm64 Python.
//
// Usage: node compile_bytecode.mjs <bundle dir> <dir shown in tracebacks, e.g. /var/task>
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const [target, ddir] = process.argv.slice(2);
if (!target || !ddir) {
  console.error("usage: node compile_bytecode.mjs <bundle dir> <ddir>");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "compile_tree.py"), "utf8");

const py = await loadPyodide({ stdout: () => {}, stderr: (line) => console.error(line) });
py.FS.mkdir("/bundle");
py.FS.mount(py.FS.filesystems.NODEFS, { root: resolve(target) }, "/bundle");
py.globals.set("ddir", ddir);
const result = py.runPython(source.replace('if __name__ == "__main__":', "if False:") +
  "\njson.dumps(compile_tree('/bundle', ddir))\n");
process.stdout.write(result + "\n");
