/**
 * The server that carries a node's client API: plain HTTP by default, HTTPS with the node's own
 * certificate when the cluster has TLS (etcd's --cert-file/--key-file). Clients are not asked
 * for a certificate here: the client API authenticates writes by nothing but the network and
 * the admin routes by their token, as before; TLS gives them privacy and the node's identity.
 */
import http from "node:http";
import https from "node:https";
import type { RequestListener } from "node:http";

export interface ClientServerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM texts of the node's certificate and key; without them, plain HTTP. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

/** Listens with `app`; rejects if the port is taken. The caller closes the server. */
export async function listenClientApp(app: RequestListener, options: ClientServerOptions):
  Promise<http.Server | https.Server> {
  const server = options.tls === undefined ? http.createServer(app)
    : https.createServer({ cert: options.tls.cert, key: options.tls.key }, app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
