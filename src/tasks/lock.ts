/**
 * A lock in the shared state directory, held by one process at a time: a file created exclusively, naming its
 * holder (replica, pid, host). A holder that is gone (its pid no longer runs on this host) loses it to the next
 * process that asks. Replicas that share a state directory use it so that only one of them runs the schedules.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";

export interface LockHolder {
  replica: string;
  pid: number;
  host: string;
}

export class StateLock {
  private held = false;
  private readonly me: LockHolder;

  constructor(
    private readonly path: string,
    replica: string,
  ) {
    this.me = { replica, pid: process.pid, host: hostname() };
  }

  /** Takes the lock when it is free or its holder is gone; true when this process holds it. */
  tryAcquire(): boolean {
    if (this.held) return true;
    mkdirSync(dirname(this.path), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.path, JSON.stringify(this.me), { flag: "wx" });
        this.held = true;
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const holder = this.holder();
        if (holder && alive(holder)) return false;
        // Gone (or unreadable): the lock is taken from it, once.
        try {
          unlinkSync(this.path);
        } catch {
          // someone else took it meanwhile
        }
      }
    }
    return false;
  }

  /**
   * Whether the file still names this process. Two processes that find the same gone holder at once can both
   * believe they took the lock (one removes the file the other had just created); the file names only one of
   * them, so whoever acts on the lock asks this first, and the other steps down.
   */
  stillHeld(): boolean {
    if (!this.held) return false;
    const holder = this.holder();
    if (holder?.pid === this.me.pid && holder.host === this.me.host) return true;
    this.held = false;
    return false;
  }

  holder(): LockHolder | undefined {
    try {
      const h = JSON.parse(readFileSync(this.path, "utf8")) as LockHolder;
      return typeof h.pid === "number" && typeof h.host === "string" ? h : undefined;
    } catch {
      return undefined;
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    const holder = this.holder();
    if (holder?.pid === this.me.pid && holder.host === this.me.host) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}

function alive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true; // another host's process: it is its own to give up
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
