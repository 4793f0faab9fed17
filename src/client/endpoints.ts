/**
 * Endpoint lists: the client API base URLs of a cluster's nodes, from an option or from the
 * MARKET_ENDPOINTS environment variable (comma-separated). `127.0.0.1:7001` is accepted and
 * means `http://127.0.0.1:7001`.
 */
export const endpointsVariable = "MARKET_ENDPOINTS";

/** A base URL without a trailing slash; throws a readable TypeError for anything else. */
export function normalizeEndpoint(text: string): string {
  const trimmed = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`not an endpoint URL: "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`not an http(s) endpoint: "${text}"`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError(`an endpoint has no query or fragment: "${text}"`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** Parses a comma-separated list; empty items are skipped, duplicates removed. */
export function parseEndpointList(text: string): string[] {
  const endpoints = text.split(",").filter((part) => part.trim() !== "").map(normalizeEndpoint);
  return [...new Set(endpoints)];
}

/** The endpoints named by MARKET_ENDPOINTS, or an empty list when it is unset or empty. */
export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const text = env[endpointsVariable];
  return text === undefined ? [] : parseEndpointList(text);
}
