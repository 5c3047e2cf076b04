import { DEFAULT_PRESETS } from "@reframe/geometry";
import { type CliCommand, EXIT_CODES, JSON_FLAG, parseCommandArgs, writeJson } from "./cli-command.ts";
import { UsageError } from "./usage-error.ts";

export const presetsCommand: CliCommand = {
  help: `reframe presets [--json]

  Every preset a --target can name as preset:NAME: exact sizes (the output is exactly that size; a
  larger source is scaled down first) and ratios (the output keeps the source's resolution).
  --json: [{name, label, kind, width, height, ratio}]

  Exit codes: 0, 2 bad usage.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, JSON_FLAG);
    if (positionals.length > 0) throw new UsageError(`presets takes no argument (${positionals[0]})`);
    const presets = [...DEFAULT_PRESETS.values()];
    if (values.json) {
      writeJson(io, presets);
      return EXIT_CODES.ok;
    }
    const width = Math.max(...presets.map((preset) => preset.name.length));
    for (const preset of presets) {
      const line =
        preset.kind === "size"
          ? `${`${preset.width}×${preset.height}`.padEnd(10)}  ${preset.label}`
          : `${preset.ratio[0]}:${preset.ratio[1]} (the source's resolution)`;
      io.out.write(`preset:${preset.name.padEnd(width)}  ${line}\n`);
    }
    return EXIT_CODES.ok;
  },
};
