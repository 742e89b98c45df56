import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { StateLock } from "../../src/tasks/lock.js";

/** A pid that ran and is gone: a child that exited and was reaped (reuse within the test is vanishingly unlikely). */
function gonePid(): number {
  const child = spawnSync(process.execPath, ["-e", "0"]);
  return child.pid!;
}

const lockPath = () => join(mkdtempSync(join(tmpdir(), "lam-lock-")), "state", "scheduler.lock");
const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as { replica: string; pid: number; host: string };

describe("StateLock", () => {
  test("the first to ask takes it (creating the folder) and is named in the file; a second holder is refused", () => {
    const path = lockPath();
    const a = new StateLock(path, "r1");
    expect(a.tryAcquire()).toBe(true);
    expect(read(path)).toEqual({ replica: "r1", pid: process.pid, host: hostname() });
    expect(a.tryAcquire()).toBe(true);
    expect(a.stillHeld()).toBe(true);
    // Another StateLock sees a live holder (this very process) and does not take it.
    const b = new StateLock(path, "r2");
    expect(b.tryAcquire()).toBe(false);
    expect(b.stillHeld()).toBe(false);
    expect(b.holder()).toMatchObject({ replica: "r1" });
    a.release();
    expect(existsSync(path)).toBe(false);
    expect(b.tryAcquire()).toBe(true);
    expect(read(path).replica).toBe("r2");
  });

  test("a holder that is gone, or a file that names nobody, is taken over; another host's holder never is", () => {
    const cases: Array<[string, boolean]> = [
      [JSON.stringify({ replica: "old", pid: gonePid(), host: hostname() }), true],
      ["", true],
      ["{not json", true],
      [JSON.stringify({ replica: "x", pid: "12", host: hostname() }), true],
      [JSON.stringify({ replica: "x" }), true],
      [JSON.stringify({ replica: "far", pid: gonePid(), host: `${hostname()}-elsewhere` }), false],
      [JSON.stringify({ replica: "far", pid: 1, host: "another-host" }), false],
    ];
    for (const [content, taken] of cases) {
      const path = lockPath();
      const lock = new StateLock(path, "r1");
      expect(lock.tryAcquire()).toBe(true); // creates the folder
      writeFileSync(path, content);
      const next = new StateLock(path, "r2");
      expect({ content, taken: next.tryAcquire() }).toEqual({ content, taken });
      expect(read(path).replica === "r2").toBe(taken);
    }
  });

  test("a holder the file no longer names steps down, and its release leaves the other's file alone", () => {
    const path = lockPath();
    const a = new StateLock(path, "r1");
    expect(a.tryAcquire()).toBe(true);
    // What a takeover race leaves: the file names someone else (alive: the parent of this process).
    const other = { replica: "r2", pid: process.ppid, host: hostname() };
    writeFileSync(path, JSON.stringify(other));
    expect(a.stillHeld()).toBe(false);
    expect(a.tryAcquire()).toBe(false);
    a.release();
    expect(read(path)).toEqual(other);
  });
});
