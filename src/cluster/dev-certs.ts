/**
 * Development certificates for a cluster (`npm run certs`, and LocalCluster with `tls`): one CA,
 * and for each node a certificate signed by it, usable both as a server certificate (its client
 * API and peer port) and as a client certificate (the peer transport's mutual TLS), with the
 * node's host as a subject alternative name beside 127.0.0.1 and localhost. ECDSA P-256 keys,
 * made with WebCrypto through @peculiar/x509, so no openssl binary is needed.
 *
 * An existing ca.crt/ca.key in the folder is reused, so that certificates made earlier (for
 * other nodes, or on another machine) stay valid; node certificates are always made anew.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import * as x509 from "@peculiar/x509";

// The library takes the WebCrypto of browsers; node:crypto's webcrypto is that same API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

const keyAlgorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;
const dayMs = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past, so a peer whose clock is behind accepts them. */
const notBeforeSkewMs = 60 * 60 * 1000;

export const devCertDefaults = { caValidDays: 3650, nodeValidDays: 825 } as const;

export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

export interface NodeCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The subject alternative names of a node on `host`: IP or DNS, plus the loopback names. */
export function subjectAltNames(host: string): x509.JsonGeneralName[] {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const names: x509.JsonGeneralName[] = [];
  // An unspecified address (listen on every interface) names no machine; skip it.
  if (bare !== "0.0.0.0" && bare !== "::") {
    names.push({ type: isIP(bare) === 0 ? "dns" : "ip", value: bare });
  }
  const loopbacks: x509.JsonGeneralName[] =
    [{ type: "ip", value: "127.0.0.1" }, { type: "dns", value: "localhost" }];
  for (const loopback of loopbacks) {
    if (!names.some((name) => name.value === loopback.value)) names.push(loopback);
  }
  return names;
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const nowMs = Date.now();
  return { notBefore: new Date(nowMs - notBeforeSkewMs), notAfter: new Date(nowMs + days * dayMs) };
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function serialNumber(): string {
  // Positive (high bit clear) and 16 bytes: unique without a counter to keep.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

export async function makeCertificateAuthority(commonName: string,
  validDays: number = devCertDefaults.caValidDays): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    ...validity(validDays),
    signingAlgorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey), cert,
    privateKey: keys.privateKey };
}

/** Loads a CA written earlier by makeCertificateAuthority (PEM certificate, PKCS#8 key). */
export async function loadCertificateAuthority(certPem: string, keyPem: string):
  Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await webcrypto.subtle.importKey("pkcs8", der, keyAlgorithm, true, ["sign"]);
  return { certPem, keyPem, cert, privateKey };
}

export async function makeNodeCertificate(ca: CertificateAuthority, node: { id: string;
  host: string }, validDays: number = devCertDefaults.nodeValidDays): Promise<NodeCertificate> {
  const keys = await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${node.id}`,
    issuer: ca.cert.subject,
    ...validity(validDays),
    signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(node.host)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

/** The cluster file's TLS settings for the files written: paths as written into the file. */
export interface TlsSection {
  readonly tls: { readonly ca: string };
  readonly nodes: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

export interface WriteDevCertsOptions {
  /** The nodes to make certificates for. */
  readonly nodes: readonly { readonly id: string; readonly host: string }[];
  /** The folder to write into (created if needed). */
  readonly outDir: string;
  /** Paths in the returned section are relative to this folder (the cluster file's). */
  readonly configDir: string;
  readonly caName?: string;
  readonly nodeValidDays?: number;
}

/** Writes ca.crt, ca.key (reused when present) and <id>.crt, <id>.key per node. */
export async function writeDevCerts(options: WriteDevCertsOptions):
  Promise<TlsSection & { caReused: boolean }> {
  mkdirSync(options.outDir, { recursive: true });
  const caCertFile = path.join(options.outDir, "ca.crt");
  const caKeyFile = path.join(options.outDir, "ca.key");
  const caReused = existsSync(caCertFile) && existsSync(caKeyFile);
  const ca = caReused
    ? await loadCertificateAuthority(readFileSync(caCertFile, "utf8"),
      readFileSync(caKeyFile, "utf8"))
    : await makeCertificateAuthority(options.caName ?? "raftmarket development CA");
  if (!caReused) {
    writeFileSync(caCertFile, ca.certPem);
    writeFileSync(caKeyFile, ca.keyPem, { mode: 0o600 });
  }
  const relative = (file: string): string =>
    path.relative(options.configDir, file).split(path.sep).join("/");
  const nodes: Record<string, { cert: string; key: string }> = {};
  for (const node of options.nodes) {
    const made = await makeNodeCertificate(ca, node, options.nodeValidDays);
    const certFile = path.join(options.outDir, `${node.id}.crt`);
    const keyFile = path.join(options.outDir, `${node.id}.key`);
    writeFileSync(certFile, made.certPem);
    writeFileSync(keyFile, made.keyPem, { mode: 0o600 });
    nodes[node.id] = { cert: relative(certFile), key: relative(keyFile) };
  }
  return { tls: { ca: relative(caCertFile) }, nodes, caReused };
}
