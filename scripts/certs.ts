/**
 * `npm run certs -- [--config FILE] [--out DIR] [--days N] [--write-config]`: makes a development
 * CA and one certificate per node of a cluster file (src/cluster/dev-certs.ts), then prints the
 * `tls` settings that turn TLS on, or with --write-config writes them into the cluster file.
 * An existing DIR/ca.crt and ca.key are reused, so running it again after adding a node keeps
 * the other nodes' certificates valid.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { runOperatorScript, ScriptError } from "../src/cluster/admin-cluster.js";
import { loadClusterConfig, parseClusterConfig } from "../src/cluster/cluster-config.js";
import { devCertDefaults, writeDevCerts, type TlsSection } from "../src/cluster/dev-certs.js";

function positiveDays(value: string): number {
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new InvalidArgumentError(`--days must be a whole number of days in 1..36500, got ` +
      `"${value}"`);
  }
  return days;
}

/** The cluster file's JSON with the tls section and every node's tls set. */
function withTls(json: Record<string, unknown>, section: TlsSection): Record<string, unknown> {
  const nodes = (json.nodes as Record<string, unknown>[]).map((node) =>
    ({ ...node, tls: section.nodes[node.id as string] }));
  return { ...json, nodes, tls: section.tls };
}

function writeConfig(file: string, section: TlsSection): void {
  const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const updated = withTls(json, section);
  // Checked before it replaces the file: a file the nodes cannot load is never written.
  parseClusterConfig(updated, file);
  try {
    writeFileSync(file, `${JSON.stringify(updated, null, 2)}\n`);
  } catch (error) {
    throw new ScriptError(`cannot write ${file} (${(error as NodeJS.ErrnoException).code})`);
  }
}

interface Options { config: string; out?: string; days: number; writeConfig: boolean }

async function run(options: Options): Promise<void> {
  const config = loadClusterConfig(options.config);
  const configDir = path.dirname(config.path);
  const outDir = path.resolve(options.out ?? path.join(configDir, "certs"));
  let section: TlsSection & { caReused: boolean };
  try {
    section = await writeDevCerts({ nodes: config.nodes, outDir, configDir,
      nodeValidDays: options.days });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw error;
    throw new ScriptError(`cannot write the certificates in ${outDir} (${code}: ` +
      `${(error as Error).message})`);
  }
  console.log(`${section.caReused ? "reused" : "made"} the CA ${path.join(outDir, "ca.crt")}; ` +
    `made ${config.nodes.length} node certificates in ${outDir} (valid ${options.days} days)`);
  if (options.writeConfig) {
    writeConfig(config.path, section);
    console.log(`TLS is on in ${config.path}: restart the cluster (npm run cluster -- ` +
      `--config ${options.config})`);
    return;
  }
  console.log(`\nTo turn TLS on, add to ${config.path} (or run again with --write-config):\n`);
  console.log(`  "tls": ${JSON.stringify(section.tls)},`);
  for (const node of config.nodes) {
    console.log(`  in the node "${node.id}": "tls": ${JSON.stringify(section.nodes[node.id])}`);
  }
}

const program = new Command()
  .name("certs")
  .description("Make a development CA and a certificate per node of a cluster file (server and " +
    "client use, SANs for the node's host, 127.0.0.1 and localhost), and print or write the " +
    "cluster file's tls settings. For development and tests: keep ca.key private.")
  .option("--config <file>", "the cluster file", "cluster.config.json")
  .option("--out <dir>", "where to write the files (default: certs/ beside the cluster file)")
  .option("--days <n>", "how long the node certificates are valid", positiveDays,
    devCertDefaults.nodeValidDays)
  .option("--write-config", "write the tls settings into the cluster file", false)
  .showHelpAfterError()
  .action(async (options: Options) => run(options));

await runOperatorScript(program);
