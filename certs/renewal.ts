// When a certificate must be replaced. Pure: the PEM and "now" in, a decision out.
import { X509Certificate } from 'node:crypto';

/** Renew once this fraction of the lifetime has passed (cert-manager's default). */
export const RENEW_AT_FRACTION = 2 / 3;

function parse(certPem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(certPem);
  } catch {
    return undefined;
  }
}

/** notBefore + 2/3 of the lifetime. Throws on a PEM that is not a certificate. */
export function renewalTime(certPem: string): Date {
  const cert = parse(certPem);
  if (!cert) throw new TypeError('not a PEM certificate');
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  return new Date(from + Math.floor((to - from) * RENEW_AT_FRACTION));
}

/** True at or after the renewal time, when not yet valid, and when unparsable. */
export function needsRenewal(certPem: string, now: Date): boolean {
  const cert = parse(certPem);
  if (!cert) return true;
  const t = now.getTime();
  if (t < cert.validFromDate.getTime()) return true;
  return t >= renewalTime(certPem).getTime();
}

/** DNS names and IP addresses in the certificate's subjectAltName. */
export function subjectAltNames(certPem: string): { dnsNames: string[]; ipAddresses: string[] } {
  const cert = parse(certPem);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  // Node renders the extension as "DNS:a, DNS:b, IP Address:127.0.0.1"; DNS names cannot hold ", ".
  for (const entry of cert?.subjectAltName?.split(', ') ?? []) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipAddresses.push(entry.slice(11));
  }
  return { dnsNames, ipAddresses };
}

/** The wanted names the certificate does not cover (exact match; kcr never issues wildcards). */
export function missingSubjectAltNames(
  certPem: string,
  wanted: { dnsNames: string[]; ipAddresses?: string[] },
): string[] {
  const have = subjectAltNames(certPem);
  const dns = new Set(have.dnsNames.map((n) => n.toLowerCase()));
  const ips = new Set(have.ipAddresses);
  return [
    ...wanted.dnsNames.filter((n) => !dns.has(n.toLowerCase())),
    ...(wanted.ipAddresses ?? []).filter((ip) => !ips.has(ip)),
  ];
}
