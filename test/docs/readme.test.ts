import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readmeShellBlocks, type ShellBlock, type ShellCommand } from "./readme-blocks.ts";

/**
 * The README as a newcomer runs it, after the quick start, in a new terminal: the demo stack is
 * started with the README's own `npm run demo -- --serve`, then every `sh` block runs in the order
 * of the README, in one bash whose environment holds only the machine's own PATH (the project's
 * Node 24 and pnpm are not on it) and what the README says to source (`out/demo/env`). It runs in a
 * copy of the checkout's top level (symbolic links) with its own `out/`, so a developer's demo and
 * reports are left alone. Each command must end with 0 or the exit code its comment names; a few
 * have key facts checked. The rules for README authors are in the README's Development section.
 */

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const README = join(REPO, "README.md");
const STACK_START_MS = 240_000;
const SCRIPT_MS = 600_000;

/** Facts a command's output must show, beyond its exit code: never figures other changes move. */
interface KeyFact {
  command: RegExp;
  /** Which of the commands matching `command` (1 = the first); every one when absent. */
  nth?: number;
  check(output: { stdout: string; stderr: string }, view: string): void;
}

const KEY_FACTS: KeyFact[] = [
  {
    command: /^\.\/reframe enqueue .*--target 16:9 --wait$/,
    check: ({ stdout }) =>
      expect(stdout).toMatch(/^op-[0-9a-f]+.*\nop-[0-9a-f]+: completed\n {2}s3:\/\/reframe-outputs\//),
  },
  {
    command: /^\.\/reframe status "\$job" --wait --json$/,
    check: ({ stdout }) =>
      expect(JSON.parse(stdout)).toMatchObject({ jobId: expect.stringMatching(/^op-/), state: "completed" }),
  },
  {
    command: /^\.\/reframe queue counts$/,
    check: ({ stdout }) => expect(stdout).toMatch(/^outpaint queue: running\n/),
  },
  {
    command: /^\.\/reframe queue pause$/,
    check: ({ stdout }) => expect(stdout).toBe("outpaint queue paused\n"),
  },
  {
    command: /^\.\/reframe presets$/,
    check: ({ stdout }) => expect(stdout).toMatch(/^preset:x-header +1500×500 +X header$/m),
  },
  {
    command: /^\.\/reframe bulk --help$/,
    check: ({ stdout }) => {
      expect(stdout).toContain("--max-cost");
      expect(stdout).not.toContain("pipelines apply");
    },
  },
  {
    command: /^\.\/reframe batch retry retry-demo --dry-run$/,
    check: ({ stdout }) => {
      expect(stdout).toMatch(/^batch retry-demo: 1 failed jobs\n {2}sourceNotFound +1\n/);
      expect(stdout).toContain("dry run: nothing was retried");
    },
  },
  {
    command: /^\.\/reframe batch retry retry-demo --follow$/,
    check: ({ stdout }) => {
      expect(stdout).toContain("retried 1 jobs of batch retry-demo");
      expect(stdout).toMatch(/^ {2}failed +0$/m);
    },
  },
  {
    command: /^curl -s -X POST "\$API_URL\/v1\/jobs" .*spring-sale/,
    check: ({ stdout }) =>
      expect(JSON.parse(stdout)).toMatchObject({ jobIds: [expect.stringMatching(/^op-/)] }),
  },
  {
    command: /^curl -s "\$API_URL\/v1\/jobs\/\$job"/,
    check: ({ stdout }) => expect(JSON.parse(stdout)).toMatchObject({ jobId: expect.stringMatching(/^op-/) }),
  },
  {
    command: /^curl -s "\$API_URL\/v1\/batches\/spring-sale"/,
    check: ({ stdout }) => expect(JSON.parse(stdout)).toMatchObject({ batchId: "spring-sale", kind: "api" }),
  },
  {
    command: /^\.\/reframe bulk .*--dry-run$/,
    check: ({ stdout }) => {
      expect(stdout).toMatch(/^batch bulk-[0-9a-f]{12} \(new\)\n/);
      expect(stdout).toContain("dry run: nothing was enqueued");
    },
  },
  {
    command: /^\.\/reframe bulk .*--max-cost 0\.50$/,
    check: ({ stderr }) =>
      expect(stderr).toMatch(
        /refused: the estimated cost \$[\d.]+ of \d+ jobs to run is over the budget of \$0\.50/,
      ),
  },
  {
    command: /^\.\/reframe bulk .*--max-cost 2$/,
    nth: 2,
    check: ({ stdout }) =>
      expect(stdout).toMatch(/^resuming batch bulk-[0-9a-f]{12}: \d+ jobs already in it/),
  },
  {
    command: /^\.\/reframe batch status manifest-demo --follow --report out\/reports\/manifest\/index\.html$/,
    check: ({ stdout }, view) => {
      expect(stdout).toMatch(/^ {2}batch +manifest-demo \(bulk, closed\)$/m);
      expect(existsSync(join(view, "out/reports/manifest/index.html"))).toBe(true);
    },
  },
  {
    command: /^\.\/reframe pipelines apply examples\/pipelines\.yaml$/,
    nth: 2,
    check: ({ stdout }) => expect(stdout).toMatch(/^nightly-samples: unchanged/m),
  },
  {
    command: /^\.\/reframe pipelines run nightly-samples$/,
    nth: 1,
    check: ({ stdout }) => expect(stdout).toMatch(/^run \S+ queued$/m),
  },
  {
    command: /^curl -s "\$API_URL\/v1\/events\/s3" .*"Records"/,
    check: ({ stdout }) => expect(JSON.parse(stdout)).toMatchObject({ objects: 1, matched: 1 }),
  },
];

/** The machine's own PATH: nothing of this checkout (.tools/, node_modules/.bin) that npm test added. */
async function systemPath(): Promise<string> {
  const repo = await realpath(REPO);
  const entries = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  const kept: string[] = [];
  for (const entry of entries) {
    const real = await realpath(entry).catch(() => entry);
    if (real.startsWith(repo) || entry.includes("node_modules") || entry.includes(".tools")) continue;
    if (!kept.includes(entry)) kept.push(entry);
  }
  return kept.join(delimiter);
}

/** The checkout's top level as symbolic links, and an `out/` of its own. */
async function checkoutView(): Promise<string> {
  const view = await mkdtemp(join(tmpdir(), "reframe-readme-"));
  for (const entry of await readdir(REPO)) {
    if (entry === "out") continue;
    await symlink(join(REPO, entry), join(view, entry));
  }
  await mkdir(join(view, "out"));
  return view;
}

/** One bash for every command, each wrapped so its output and exit code land in files of their own. */
function scriptOf(commands: readonly ShellCommand[], results: string): string {
  const lines = ["set +e", "source out/demo/env"];
  for (const [index, command] of commands.entries()) {
    lines.push(
      `printf 'start %d\\n' ${index} >&3`,
      "{",
      command.text,
      `} >${results}/${index}.out 2>${results}/${index}.err </dev/null`,
      `printf 'exit %d %d\\n' ${index} "$?" >&3`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Resolves once the process printed `marker`; rejects when it exits first or time runs out. */
async function untilOutput(child: ChildProcess, output: () => string, marker: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!output().includes(marker)) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the demo stack exited before it was up:\n${output()}`);
    if (Date.now() > deadline)
      throw new Error(`the demo stack was not up within ${timeoutMs} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function stopGroup(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  process.kill(-child.pid, "SIGINT");
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

const blocks: ShellBlock[] = readmeShellBlocks(await readFile(README, "utf8"));
const runnable = blocks.filter((block) => block.annotation.kind === "run");
const commands = runnable.flatMap((block) => block.commands);

describe("the README, run as written", () => {
  let view: string;
  let stack: ChildProcess | undefined;
  let stackOutput = "";
  const results: { code: number | undefined; stdout: string; stderr: string }[] = [];
  let scriptOutput = "";
  const elapsed = { stack: 0, commands: 0 };

  beforeAll(
    async () => {
      view = await checkoutView();
      const env = {
        HOME: process.env.HOME ?? tmpdir(),
        PATH: await systemPath(),
        LANG: "C.UTF-8",
        TERM: "dumb",
      };
      const [stackBlock] = blocks.filter((block) => block.annotation.kind === "stack");
      if (stackBlock?.commands.length !== 1)
        throw new Error("the README needs one block marked <!-- doc-test: stack --> with one command");
      let started = Date.now();
      stack = spawn("bash", ["-c", stackBlock!.commands[0]!.text], { cwd: view, env, detached: true });
      stack.stdout?.on("data", (chunk: Buffer) => (stackOutput += chunk));
      stack.stderr?.on("data", (chunk: Buffer) => (stackOutput += chunk));
      await untilOutput(stack, () => stackOutput, "Ctrl-C stops everything", STACK_START_MS);
      elapsed.stack = Date.now() - started;

      const resultsDir = join(view, "out", "readme-test");
      await mkdir(resultsDir);
      await writeFile(join(resultsDir, "script.sh"), scriptOf(commands, resultsDir));
      started = Date.now();
      const script = spawn("bash", [join(resultsDir, "script.sh")], {
        cwd: view,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe", "pipe"],
      });
      script.stdio[3]?.on("data", (chunk: Buffer) => (scriptOutput += chunk));
      const timer = setTimeout(() => script.pid && process.kill(-script.pid, "SIGKILL"), SCRIPT_MS);
      await once(script, "exit");
      clearTimeout(timer);
      elapsed.commands = Date.now() - started;
      const codes = new Map(
        [...scriptOutput.matchAll(/^exit (\d+) (\d+)$/gm)].map((match) => [
          Number(match[1]),
          Number(match[2]),
        ]),
      );
      for (const index of commands.keys()) {
        results.push({
          code: codes.get(index),
          stdout: await readFile(join(resultsDir, `${index}.out`), "utf8").catch(() => ""),
          stderr: await readFile(join(resultsDir, `${index}.err`), "utf8").catch(() => ""),
        });
      }
      console.info(
        `README test: stack up in ${(elapsed.stack / 1000).toFixed(1)} s, ${commands.length} commands in ${(elapsed.commands / 1000).toFixed(1)} s`,
      );
    },
    STACK_START_MS + SCRIPT_MS + 60_000,
  );

  afterAll(async () => {
    await stopGroup(stack);
    if (view) await rm(view, { recursive: true, force: true });
  }, 60_000);

  for (const block of blocks) {
    if (block.annotation.kind === "skip") {
      it.skip(`README line ${block.line}: not run (${block.annotation.reason})`, () => undefined);
      continue;
    }
    if (block.annotation.kind === "stack") continue;
    it(`README line ${block.line}: ${block.commands.length} commands as written`, () => {
      for (const command of block.commands) {
        const index = commands.indexOf(command);
        const result = results[index]!;
        const where = `README line ${command.line}: ${command.code}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
        if (result.code === undefined)
          throw new Error(
            `${where}\nnot run to its end (the script stopped: a time-out, or a command before hung)`,
          );
        expect(result.code, where).toBe(command.expectedExit);
        expect(result.stderr, `${where}\na stack trace`).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
        for (const fact of KEY_FACTS) {
          if (!fact.command.test(command.code)) continue;
          const matching = commands.filter((other) => fact.command.test(other.code));
          if (fact.nth !== undefined && matching[fact.nth - 1] !== command) continue;
          try {
            fact.check(result, view);
          } catch (error) {
            throw new Error(`${where}\nkey fact: ${(error as Error).message}`);
          }
        }
      }
    });
  }

  it("every key fact names a command the README still shows", () => {
    const stale = KEY_FACTS.filter((fact) => {
      const matching = commands.filter((command) => fact.command.test(command.code));
      return matching.length < (fact.nth ?? 1);
    });
    expect(stale.map((fact) => String(fact.command))).toEqual([]);
  });
});
