/**
 * The commands of market-cli (issue 4): buy, search, item get|create|list, stock add,
 * order get|cancel and repl; the cluster's own (cluster status|events|watch, member list,
 * leader, leader transfer) are in market-cli-cluster-commands.ts. Each action reads the global
 * options (-w, --endpoints, --config, --timeout), calls MarketClient and prints a table or
 * JSON; errors propagate to runMarketCli, which prints one line and picks the exit code.
 */
import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import type { Consistency, SearchOptions } from "../client/index.js";
import { action, type Options } from "./cli-action.js";
import { itemsTable, orderTable } from "./cli-output.js";
import { runRepl } from "./cli-repl.js";
import { registerCluster } from "./market-cli-cluster-commands.js";
import { nonNegativeInteger, positiveInteger, type CliSession } from "./cli-session.js";

/**
 * The program's own entry points, for the repl, which runs one command line per line it reads:
 * handed in by market-cli-program.ts, so that no command imports the program.
 */
export interface CliShell {
  /** Runs one command line and returns its exit code. */
  readonly run: (argv: readonly string[]) => Promise<number>;
  /** A fresh program, for the repl's completion and help. */
  readonly build: () => Command;
}

function consistency(options: Options): Consistency {
  return options.stale === true ? "stale" : "linearizable";
}

/** A write's requestId: the one given (to retry an operation), else a fresh one. */
function requestIdFor(session: CliSession, options: Options): string {
  const requestId = typeof options.requestId === "string" ? options.requestId : randomUUID();
  session.requestId = requestId;
  return requestId;
}

export function registerCommands(program: Command, session: CliSession, shell: CliShell): void {
  registerShopping(program, session);
  registerItem(program, session);
  registerOrders(program, session);
  registerCluster(program, session);
  program.command("repl")
    .description("an interactive prompt: type commands as you would after market-cli; " +
      "help lists them, exit leaves")
    .action(action(async (options) => {
      await runRepl(session, options, shell.run, shell.build);
    }));
  program.addHelpText("after", `
Examples:
  market-cli search apple --in-stock
  market-cli buy --item apple-1kg --qty 2
  market-cli -w json item get apple-1kg
  market-cli cluster status --endpoints http://127.0.0.1:7001,http://127.0.0.1:7002
  market-cli cluster events --follow
  market-cli cluster watch --interval 1s
  market-cli leader transfer --to n2
  market-cli search --endpoints https://10.0.0.5:7001 --cacert certs/ca.crt

Exit codes: 0 success, 1 error (the cluster refused the request), 2 cannot reach the cluster
(or it has no leader now), 128 bad usage; cluster status: 1 no leader, 2 a node is unreachable
(see cluster status --help). With -w json, errors are JSON on stderr. NO_COLOR is respected.`);
}

function registerShopping(program: Command, session: CliSession): void {
  program.command("buy")
    .description("buy an item: one order, all or nothing")
    .requiredOption("--item <sku>", "the item to buy")
    .option("--qty <n>", "how many", positiveInteger, 1)
    .option("--request-id <id>", "retry an earlier buy whose outcome is unknown")
    .action(action(async (options) => {
      const { client } = session.connect(options);
      const order = await client.buy([{ sku: options.item as string, qty: options.qty as number }],
        { requestId: requestIdFor(session, options) });
      session.print(options, () => orderTable(order, session.style), { order });
    }));
  program.command("search")
    .description("search items by text (in sku or name), area and stock")
    .argument("[query]", "text the sku or the name contains")
    .option("--area <area>", "only items of this area")
    .option("--in-stock", "only items in stock")
    .option("--limit <n>", "at most this many items", positiveInteger)
    .option("--stale", "read this node's state without asking the leader (faster, may lag)")
    .action(action(async (options, text) => search(session, options, text)));
}

async function search(session: CliSession, options: Options, text?: string): Promise<void> {
  const { client } = session.connect(options);
  const query: SearchOptions = {
    ...(text !== undefined ? { q: text } : {}),
    ...(typeof options.area === "string" ? { area: options.area } : {}),
    ...(options.inStock === true ? { inStock: true } : {}),
    ...(typeof options.limit === "number" ? { limit: options.limit } : {}),
    consistency: consistency(options),
  };
  const result = await client.searchItems(query);
  session.print(options, () => itemsTable(result.items, session.style), result);
}

function registerItem(program: Command, session: CliSession): void {
  const item = program.command("item").description("get, create or list items");
  item.command("get").description("show one item")
    .argument("<sku>", "the item's sku")
    .option("--stale", "read this node's state without asking the leader")
    .action(action(async (options, sku) => {
      const { client } = session.connect(options);
      const result = await client.getItem(sku!, { consistency: consistency(options) });
      session.print(options, () => itemsTable([result.item], session.style), result);
    }));
  item.command("create").description("add an item to the catalogue")
    .requiredOption("--sku <sku>", "unique id: letters, digits, '.', '_', '-'")
    .requiredOption("--name <name>", "display name")
    .requiredOption("--area <area>", "the area (aisle) it belongs to")
    .requiredOption("--price-cents <n>", "unit price in cents", nonNegativeInteger)
    .requiredOption("--stock <n>", "initial stock", nonNegativeInteger)
    .option("--request-id <id>", "retry an earlier create whose outcome is unknown")
    .action(action(async (options) => {
      const { client } = session.connect(options);
      const created = await client.createItem({
        sku: options.sku as string, name: options.name as string, area: options.area as string,
        priceCents: options.priceCents as number, stock: options.stock as number,
      }, { requestId: requestIdFor(session, options) });
      session.print(options, () => itemsTable([created], session.style), { item: created });
    }));
  item.command("list").description("list items in sku order")
    .option("--area <area>", "only items of this area")
    .option("--in-stock", "only items in stock")
    .option("--limit <n>", "at most this many items", positiveInteger)
    .option("--stale", "read this node's state without asking the leader")
    .action(action(async (options) => search(session, options)));
  program.command("stock").description("change stock")
    .command("add").description("add units to an item's stock")
    .argument("<sku>", "the item's sku")
    .requiredOption("--qty <n>", "units to add", positiveInteger)
    .option("--request-id <id>", "retry an earlier add whose outcome is unknown")
    .action(action(async (options, sku) => {
      const { client } = session.connect(options);
      const updated = await client.addStock(sku!, options.qty as number,
        { requestId: requestIdFor(session, options) });
      session.print(options, () => itemsTable([updated], session.style), { item: updated });
    }));
}

function registerOrders(program: Command, session: CliSession): void {
  const order = program.command("order").description("show or cancel orders");
  order.command("get").description("show one order")
    .argument("<orderId>", "the order's id, e.g. o-42")
    .option("--stale", "read this node's state without asking the leader")
    .action(action(async (options, orderId) => {
      const { client } = session.connect(options);
      const result = await client.getOrder(orderId!, { consistency: consistency(options) });
      session.print(options, () => orderTable(result.order, session.style), result);
    }));
  order.command("cancel").description("cancel an order and restock its items (once)")
    .argument("<orderId>", "the order's id, e.g. o-42")
    .option("--request-id <id>", "retry an earlier cancel whose outcome is unknown")
    .action(action(async (options, orderId) => {
      const { client } = session.connect(options);
      const cancelled = await client.cancel(orderId!,
        { requestId: requestIdFor(session, options) });
      session.print(options, () => orderTable(cancelled, session.style), { order: cancelled });
    }));
}
