/**
 * Fuzzing the client port (issue 9). Goal: no request, however malformed, gets a 5xx or an
 * answer outside the `{"error":{"code","message"}}` shape, and the server is still serving
 * afterwards. Method: the real client app (admin API mounted) over a FakeNodeService, served by
 * listenClientApp on 127.0.0.1 with short timeouts; 3,000 requests built from a seeded PRNG
 * (bad escapes, bad encodings, bad JSON, wrong shapes, bad query keys, huge declared lengths,
 * odd methods, long paths, random bytes in paths, headers and bodies, admin routes with and
 * without the token) sent as raw bytes over node:net, 24 at a time. A request whose bytes break
 * HTTP framing may be answered by a reset rather than an answer (node's parser stops reading);
 * every other one must be answered. The counts by status are printed at the end; on failure
 * the seed is printed: `API_FUZZ_SEED=<seed> npx mocha test/api/client-fuzz.test.ts`.
 */
import { expect } from "chai";
import { gzipSync } from "node:zlib";
import { FakeNodeService } from "./fake-node-service.js";
import { serveNode } from "./helpers.js";
import { errorShape, rawBytes, rawRequest, type RawAnswer } from "./raw-http.js";

const requestCount = 3000;
const concurrency = 24;
const adminToken = "fuzz-admin-token";
const bodyLimitBytes = 8192;

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FuzzCase {
  readonly kind: string;
  readonly bytes: Buffer;
  /** The bytes may break framing: a reset or a close without an answer is acceptable. */
  readonly mayGoUnanswered: boolean;
}

class Generator {
  constructor(private readonly random: () => number) {}

  int(below: number): number {
    return Math.floor(this.random() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(probability: number): boolean {
    return this.random() < probability;
  }

  bytes(length: number): Buffer {
    return Buffer.from(Array.from({ length }, () => this.int(256)));
  }

  /** Printable junk for a URL: escapes good and bad, reserved characters, non-ASCII. */
  pathJunk(): string {
    const pieces = ["%ZZ", "%", "%C0%AF", "%E0%80", "%FF", "%00", "%2F", "..", "//", "%25",
      "a", "apple-1kg", "o-13", "%F0%9F%98%80", "~", "!", "$", "'", "(", "*", ";", ",", "=",
      "%u0041", "\u00e9", "[", "]", "@", ":"];
    return Array.from({ length: 1 + this.int(6) }, () => this.pick(pieces)).join("");
  }

  path(): string {
    const junk = this.pathJunk();
    return this.pick([
      "/v1/items", `/v1/items/${junk}`, `/v1/items/${junk}/stock`, "/v1/orders",
      `/v1/orders/${junk}`, `/v1/orders/${junk}/cancel`, "/v1/cluster/status", "/metrics",
      `/${junk}`, "/admin/faults", "/admin/leadership/transfer", `/admin/${junk}`,
      "/v1/items/apple-1kg", "/v1/orders/o-13", `/v1/items/${"a".repeat(this.int(6000))}`,
      `/v1/orders/${"9".repeat(this.int(3000))}/cancel`, "*", "/v1/items/",
    ]);
  }

  query(): string {
    if (this.chance(0.5)) return "";
    const keys = ["q", "area", "inStock", "limit", "consistency", "inStock[]", "area[a]", "foo",
      "limit", "__proto__", "constructor", "q[0]", "", "%ZZ", "a%00b"];
    const values = ["true", "false", "1", "0", "-1", "99999999999999999999", "stale",
      "linearizable", "Bakery", "%ZZ", "", "x".repeat(300), "%E0%80"];
    const pairs = Array.from({ length: 1 + this.int(3) },
      () => `${this.pick(keys)}=${this.pick(values)}`);
    return `?${pairs.join("&")}`;
  }

  body(): string | Buffer {
    return this.pick<() => string | Buffer>([
      () => JSON.stringify({ requestId: `r${this.int(50)}`,
        lines: [{ sku: this.pick(["milk-1l", "apple-1kg", "durian"]), qty: this.int(4) }] }),
      () => JSON.stringify({ requestId: "c", sku: `s${this.int(1e6)}`, name: "N", area: "A",
        priceCents: this.int(1000), stock: this.int(10) }),
      () => this.pick(["\"str\"", "5", "null", "[]", "true", "{", "{\"a\":", "", " ",
        "{\"requestId\":{\"$gt\":1}}", "{\"__proto__\":{\"x\":1}}", "[".repeat(5000),
        "{\"rules\":[{\"from\":\"n1\",\"to\":\"n2\",\"drop\":true}]}", "{\"target\":\"n2\"}"]),
      () => this.bytes(this.int(300)),
      () => gzipSync(JSON.stringify({ requestId: "z", qty: 1 })),
      () => "x".repeat(this.int(10_000)),
    ])();
  }

  headers(hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    if (hasBody || this.chance(0.2)) {
      headers["content-type"] = this.pick(["application/json", "application/json",
        "text/plain", "application/json; charset=latin1", "application/x-www-form-urlencoded",
        "application/vnd.x+json", "multipart/form-data; boundary=x", "*/*", ";;;"]);
    }
    if (this.chance(0.25)) {
      headers["content-encoding"] = this.pick(["gzip", "deflate", "br", "compress", "identity",
        "gzip, br", "toString", "x-gzip"]);
    }
    if (this.chance(0.4)) {
      headers.authorization = this.pick([`Bearer ${adminToken}`, "Bearer wrong", "Basic eDp5",
        "Bearer ", `bearer ${adminToken}`]);
    }
    if (this.chance(0.05)) headers["x-junk"] = this.bytes(20).toString("latin1");
    if (this.chance(0.03)) headers["x-big"] = "b".repeat(20_000);
    if (this.chance(0.05)) headers["x-raftmarket-forwarded"] = "1";
    return headers;
  }

  method(): string {
    return this.pick(["GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD",
      "TRACE", "FOO", "get", "CONNECT", "PROPFIND"]);
  }

  fuzzCase(): FuzzCase {
    const method = this.method();
    const target = this.chance(0.05) ? this.bytes(1 + this.int(40)).toString("latin1")
      : this.path() + this.query();
    const hasBody = ["POST", "PUT", "DELETE", "PATCH"].includes(method) && this.chance(0.85);
    const headers = this.headers(hasBody);
    const body = hasBody ? this.body() : undefined;
    const style = this.int(10);
    if (hasBody && style === 0) {
      // A declared length far above what is sent, and above the limit.
      headers["content-length"] = String(bodyLimitBytes + 1 + this.int(1e9));
      return { kind: "declared", bytes: rawBytes(method, target, headers, body),
        mayGoUnanswered: true };
    }
    if (hasBody && style === 1) {
      headers["transfer-encoding"] = "chunked";
      const bytes = Buffer.from(body ?? "");
      const chunked = Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes,
        Buffer.from(this.chance(0.8) ? "\r\n0\r\n\r\n" : "\r\nZZ\r\n")]);
      return { kind: "chunked", bytes: Buffer.concat([rawBytes(method, target, headers),
        chunked]), mayGoUnanswered: true };
    }
    // Framing-breaking bytes (a raw target, a control byte in a header) or a header past
    // node's 16 KiB bound: node's parser stops reading, and the reply may race a reset.
    const breaksFraming = !/^[\x21-\x7e]+$/.test(target) || "x-junk" in headers ||
      "x-big" in headers || !/^[A-Z]+$/.test(method) || target.length > 15_000;
    return { kind: hasBody ? "body" : "plain", bytes: rawBytes(method, target, headers, body),
      mayGoUnanswered: breaksFraming };
  }
}

describe("client API: fuzz", () => {
  it(`answers ${requestCount} malformed requests with 4xx or success, never 5xx`, async () => {
    const seed = Number(process.env.API_FUZZ_SEED ?? 20_260_901);
    const generator = new Generator(prng(seed));
    const cases = Array.from({ length: requestCount }, () => generator.fuzzCase());
    const service = new FakeNodeService("n1").loadDemo();
    const served = await serveNode(service, {
      bodyLimitBytes,
      admin: {
        adminToken, transferLeadership: () => "started",
        faults: { setRules: () => {}, clearRules: () => {}, rules: () => [] },
      },
    }, { headersTimeoutMs: 1000, requestTimeoutMs: 1500, timeoutCheckIntervalMs: 200 });
    const counts = new Map<string, number>();
    const failures: string[] = [];
    const startedMs = Date.now();
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < cases.length) {
          const position = next++;
          const fuzz = cases[position] as FuzzCase;
          const answer = await rawRequest(served.port, fuzz.bytes, { timeoutMs: 4000 });
          const key = answer.status === 0 ? `no answer (${answer.ending})` : String(answer.status);
          counts.set(key, (counts.get(key) ?? 0) + 1);
          const problem = judge(fuzz, answer);
          if (problem !== null) {
            failures.push(`#${position} ${fuzz.kind}: ${problem}; request: ` +
              JSON.stringify(fuzz.bytes.subarray(0, 200).toString("latin1")));
          }
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      const status = await rawRequest(served.port, rawBytes("GET", "/v1/cluster/status"));
      expect(status.status, "the server still serves after the fuzz").to.equal(200);
    } finally {
      await served.close();
      const table = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b))
        .map(([key, count]) => `${key}: ${count}`).join(", ");
      console.log(`    client fuzz, seed ${seed}, ${requestCount} requests in ` +
        `${Date.now() - startedMs} ms: ${table}`);
    }
    if (failures.length > 0) {
      expect.fail(`${failures.length} bad answers (reproduce with API_FUZZ_SEED=${seed}):\n` +
        failures.slice(0, 10).join("\n"));
    }
  });
});

/** Why `answer` breaks the rules, or null if it does not. */
function judge(fuzz: FuzzCase, answer: RawAnswer): string | null {
  if (answer.ending === "timeout") return "no answer and no close within 4 s";
  if (answer.status === 0) return fuzz.mayGoUnanswered ? null : `no answer (${answer.ending})`;
  if (answer.status >= 500) return `status ${answer.status}: ${answer.body.slice(0, 200)}`;
  const isHead = fuzz.bytes.subarray(0, 5).toString("latin1") === "HEAD ";
  if (answer.status >= 400 && !isHead && errorShape(answer.body) === null) {
    return `status ${answer.status} without the error shape: ${answer.body.slice(0, 200)}`;
  }
  return null;
}
