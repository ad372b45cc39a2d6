// The local cluster's PKI: one CA for the control plane and its clients, one CA for the
// (simulated) kubelets' serving certificates, and the service-account signing key pair.
// Everything lives as PEM files under .kcr/pki in the checkout (git-ignored) and is made
// once; later calls reuse it. Simulated nodes use issueKubeletServingCert (the API server
// verifies kubelets against kubeletCaCert) and issueNodeClientCert/nodeKubeconfig (Node
// authorization + NodeRestriction: CN system:node:<name>, O system:nodes).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import forge from 'node-forge';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/** Where the local cluster keeps its state, data, logs and PKI. */
export const KCR_DIR = join(REPO_ROOT, '.kcr');
export const DEFAULT_PKI_DIR = join(KCR_DIR, 'pki');

export interface CertAndKey {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#1 RSA). */
  key: string;
}

/** File paths of the cluster PKI (all PEM). */
export interface PkiPaths {
  dir: string;
  /** The cluster CA: signs the API server's serving cert and every client cert; the API server's --client-ca-file. */
  caCert: string;
  caKey: string;
  /** Signs kubelet serving certs; the API server's --kubelet-certificate-authority. */
  kubeletCaCert: string;
  kubeletCaKey: string;
  apiserverCert: string;
  apiserverKey: string;
  /** The API server's client identity towards kubelets (CN kube-apiserver-kubelet-client, no groups). */
  apiserverKubeletClientCert: string;
  apiserverKubeletClientKey: string;
  /** Service-account token signing key pair. */
  saKey: string;
  saPub: string;
}

export function pkiPaths(dir: string = DEFAULT_PKI_DIR): PkiPaths {
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    kubeletCaCert: p('kubelet-ca.crt'),
    kubeletCaKey: p('kubelet-ca.key'),
    apiserverCert: p('apiserver.crt'),
    apiserverKey: p('apiserver.key'),
    apiserverKubeletClientCert: p('apiserver-kubelet-client.crt'),
    apiserverKubeletClientKey: p('apiserver-kubelet-client.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}

/** The user the API server presents to kubelets; not in system:masters, so RBAC on nodes/* matters. */
export const APISERVER_KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';

const DAY_MS = 24 * 60 * 60 * 1000;

interface Subject {
  cn: string;
  o?: string[];
}

interface IssueOptions {
  subject: Subject;
  usage: 'server' | 'client' | 'both';
  dnsNames?: string[];
  ips?: string[];
  validityDays?: number;
}

function rsaKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; forgePub: forge.pki.rsa.PublicKey } {
  // Native key generation: forge's pure-JS RSA is far too slow for a test harness.
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey);
  const forgePub = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { pem: privateKey, forgeKey, forgePub };
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}

function subjectAttrs(s: Subject): forge.pki.CertificateField[] {
  return [...(s.o ?? []).map((o) => ({ name: 'organizationName', value: o })), { name: 'commonName', value: s.cn }];
}

function newCert(pub: forge.pki.rsa.PublicKey, validityDays: number, now: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = serial();
  // Back-date an hour: tolerate small clock differences between processes.
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  return cert;
}

export function createCa(cn: string, now = new Date()): CertAndKey {
  const k = rsaKey();
  const cert = newCert(k.forgePub, 3650, now);
  cert.setSubject(subjectAttrs({ cn }));
  cert.setIssuer(subjectAttrs({ cn }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(k.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: k.pem };
}

export function issueCert(ca: CertAndKey, opts: IssueOptions, now = new Date()): CertAndKey {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const k = rsaKey();
  const cert = newCert(k.forgePub, opts.validityDays ?? 365, now);
  cert.setSubject(subjectAttrs(opts.subject));
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(opts.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  const exts: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: opts.usage !== 'client',
      clientAuth: opts.usage !== 'server',
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (altNames.length > 0) exts.push({ name: 'subjectAltName', altNames });
  cert.setExtensions(exts);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: k.pem };
}

function writeAtomic(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

function readPair(certPath: string, keyPath: string): CertAndKey {
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

function ensurePair(certPath: string, keyPath: string, make: () => CertAndKey): CertAndKey {
  if (existsSync(certPath) && existsSync(keyPath)) return readPair(certPath, keyPath);
  const pair = make();
  writeAtomic(keyPath, pair.key);
  writeAtomic(certPath, pair.cert, 0o644);
  return pair;
}

/** The API server's serving names: what clients inside and outside the cluster dial. */
export const APISERVER_DNS_NAMES = [
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];
/** 10.96.0.1 is the first address of the service range the API server is started with. */
export const APISERVER_IPS = ['127.0.0.1', '10.96.0.1'];

/** Makes (once) the CAs, the control plane's certificates and the service-account keys. */
export function ensureClusterPki(dir: string = DEFAULT_PKI_DIR): PkiPaths {
  const p = pkiPaths(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = ensurePair(p.caCert, p.caKey, () => createCa('kcr-local-cluster-ca'));
  ensurePair(p.kubeletCaCert, p.kubeletCaKey, () => createCa('kcr-local-kubelet-ca'));
  ensurePair(p.apiserverCert, p.apiserverKey, () =>
    issueCert(ca, { subject: { cn: 'kube-apiserver' }, usage: 'server', dnsNames: APISERVER_DNS_NAMES, ips: APISERVER_IPS }),
  );
  ensurePair(p.apiserverKubeletClientCert, p.apiserverKubeletClientKey, () =>
    issueCert(ca, { subject: { cn: APISERVER_KUBELET_CLIENT_USER }, usage: 'client' }),
  );
  if (!existsSync(p.saKey) || !existsSync(p.saPub)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeAtomic(p.saKey, privateKey);
    writeAtomic(p.saPub, publicKey, 0o644);
  }
  return p;
}

/** A client certificate signed by the cluster CA: user `cn`, groups `groups`. */
export function issueClientCert(cn: string, groups: string[] = [], dir: string = DEFAULT_PKI_DIR): CertAndKey {
  const p = ensureClusterPki(dir);
  return issueCert(readPair(p.caCert, p.caKey), { subject: { cn, o: groups }, usage: 'client' });
}

/**
 * A kubelet serving certificate for a simulated node at `ip` (e.g. 127.0.0.2), signed by the
 * kubelet CA the API server verifies node-proxy connections against.
 */
export function issueKubeletServingCert(nodeName: string, ip: string, dir: string = DEFAULT_PKI_DIR): CertAndKey {
  if (isIP(ip) === 0) throw new Error(`issueKubeletServingCert: not an IP address: ${JSON.stringify(ip)}`);
  const p = ensureClusterPki(dir);
  return issueCert(readPair(p.kubeletCaCert, p.kubeletCaKey), {
    subject: { cn: `system:node:${nodeName}`, o: ['system:nodes'] },
    usage: 'server',
    dnsNames: [nodeName],
    ips: [ip],
  });
}

/** A node's client identity: Node authorization and NodeRestriction key off this exact subject. */
export function issueNodeClientCert(nodeName: string, dir: string = DEFAULT_PKI_DIR): CertAndKey {
  return issueClientCert(`system:node:${nodeName}`, ['system:nodes'], dir);
}

export interface KubeconfigUser {
  name: string;
  clientCert?: CertAndKey;
  token?: string;
}

/** A kubeconfig (JSON, which every kubeconfig loader reads) for one user against `server`. */
export function kubeconfigText(server: string, caCertPem: string, user: KubeconfigUser): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const u: Record<string, string> = {};
  if (user.clientCert) {
    u['client-certificate-data'] = b64(user.clientCert.cert);
    u['client-key-data'] = b64(user.clientCert.key);
  }
  if (user.token) u.token = user.token;
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kcr-local', cluster: { server, 'certificate-authority-data': b64(caCertPem) } }],
      users: [{ name: user.name, user: u }],
      contexts: [{ name: user.name, context: { cluster: 'kcr-local', user: user.name } }],
      'current-context': user.name,
    },
    null,
    2,
  );
}

/** Writes `text` to `path` readable only by us (kubeconfigs hold keys or tokens). */
export function writeSecretFile(path: string, text: string): void {
  writeAtomic(path, text, 0o600);
}

/** The local cluster's PKI: beside its kubeconfig, else the checkout's default. */
export function clusterPkiDir(kubeconfig: string): string {
  const beside = join(dirname(kubeconfig), 'pki');
  return existsSync(pkiPaths(beside).caCert) ? beside : DEFAULT_PKI_DIR;
}

/** A kubeconfig for node `nodeName` (system:node:<name>, system:nodes) against `server`. */
export function nodeKubeconfig(nodeName: string, server: string, dir: string = DEFAULT_PKI_DIR): string {
  const p = ensureClusterPki(dir);
  return kubeconfigText(server, readFileSync(p.caCert, 'utf8'), {
    name: `system:node:${nodeName}`,
    clientCert: issueNodeClientCert(nodeName, dir),
  });
}
