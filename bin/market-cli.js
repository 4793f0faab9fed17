#!/usr/bin/env node
// Runs the TypeScript entry point through tsx, so `npx market-cli` works after npm install.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/market-cli.ts");
