import { spawn } from "node:child_process";
/**
 * Helpers for the file-backed storage tests: temporary directories under os.tmpdir() that the
 * caller removes in an after hook, byte-level edits of WAL files (the tests damage files the way
 * a crash or a bad disk would), and a counter of real fs calls.
 */
import * as fs from "node:fs";
import fsModule from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as os from "node:os";
import * as path from "node:path";

/** Hands out fresh directories and removes them all in cleanup(). */
export class TempDirs {
  private readonly dirs: string[] = [];

  make(prefix = "raftmarket-storage-"): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function walFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.startsWith("wal-")).sort();
}

export function lastWalFile(dir: string): string {
  const files = walFiles(dir);
  return path.join(dir, files[files.length - 1]!);
}

export function fileBytes(file: string): number {
  return fs.statSync(file).size;
}

export function directoryBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, name) => sum + fileBytes(path.join(dir, name)), 0);
}

export function flipBit(file: string, offset: number, bit = 0): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = bytes[offset]! ^ (1 << bit);
  fs.writeFileSync(file, bytes);
}

export function truncate(file: string, bytes: number): void {
  fs.truncateSync(file, bytes);
}

/** Copies every file of `source` into a fresh directory from `dirs`. */
export function copyDirectory(source: string, dirs: TempDirs): string {
  const target = dirs.make("raftmarket-copy-");
  for (const name of fs.readdirSync(source)) {
    fs.copyFileSync(path.join(source, name), path.join(target, name));
  }
  return target;
}

/** A snapshot of every file's bytes, to check that something left a directory untouched. */
export function directoryContents(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name))]));
}

type FsFunctionName = "fdatasyncSync" | "fdatasync" | "writeSync" | "fsyncSync";

/**
 * Wraps a node:fs function for the duration of `body`, counting calls (or replacing them), so a
 * test can see how many fdatasyncs a sync() really made. ESM importers of node:fs see the change
 * through syncBuiltinESMExports().
 */
export function withFsCalls<T>(name: FsFunctionName, body: (calls: { count: number }) => T,
  replacement?: (...args: unknown[]) => unknown): T {
  const original = fsModule[name] as (...args: unknown[]) => unknown;
  const calls = { count: 0 };
  (fsModule as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    calls.count++;
    return (replacement ?? original)(...args);
  };
  syncBuiltinESMExports();
  try {
    return body(calls);
  } finally {
    (fsModule as unknown as Record<string, unknown>)[name] = original;
    syncBuiltinESMExports();
  }
}

/**
 * Runs a fixture script (`node --import tsx script ...args`) that prints one line per durable
 * step, `<word> <n>`, kills it with SIGKILL after `linesBeforeKill` lines, and resolves with the
 * last n it printed. Bounded: after `timeoutMs` the child is killed and the promise rejects.
 */
export function runAndKillAfterLines(script: string, args: readonly string[],
  linesBeforeKill: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args],
      { stdio: ["ignore", "pipe", "pipe"] });
    let last = 0;
    let lineCount = 0;
    let stderr = "";
    let buffered = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${path.basename(script)} printed ${lineCount} lines in ${timeoutMs} ms: ` +
        stderr));
    }, timeoutMs);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        last = Number(line.slice(line.indexOf(" ") + 1));
        if (++lineCount === linesBeforeKill) child.kill("SIGKILL");
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL") resolve(last);
      else reject(new Error(`${path.basename(script)} exited with ${code}: ${stderr}`));
    });
  });
}
