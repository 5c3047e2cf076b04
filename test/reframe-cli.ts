import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const REFRAME_CLI = fileURLToPath(new URL("../apps/producer/src/cli.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `reframe` CLI as a user does, in its own process, with the given environment. */
export async function reframe(
  args: string[],
  env: Record<string, string>,
  timeout = 60_000,
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [REFRAME_CLI, ...args], {
      env: { ...process.env, ...env },
      timeout,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
