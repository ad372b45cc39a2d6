// How long the certificate work takes: generation happens at start-up and at
// renewal (not on the admission path); the checks run on every rotator tick.
// Run: node test/bench/certs.bench.ts
import { generateCertificateBundle, needsRenewal, bundleRenewalReason, serviceDnsNames } from '../../certs/index.ts';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function time(n: number, fn: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const now = new Date();
const opts = { serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 365, now, ipAddresses: ['127.0.0.1'] };
const gen = time(20, () => generateCertificateBundle(opts));
const bundle = generateCertificateBundle(opts);
const check = time(2000, () => needsRenewal(bundle.cert, now));
const wanted = { dnsNames: serviceDnsNames('kcr-webhook', 'kcr-system'), ipAddresses: ['127.0.0.1'] };
const full = time(500, () => bundleRenewalReason(bundle, wanted, now));

const fmt = (xs: number[]) => `p50=${percentile(xs, 0.5).toFixed(3)}ms p95=${percentile(xs, 0.95).toFixed(3)}ms`;
console.log(`generateCertificateBundle (2x RSA-2048 + 2 signatures): ${fmt(gen)}`);
console.log(`needsRenewal: ${fmt(check)}`);
console.log(`bundleRenewalReason (full reuse check): ${fmt(full)}`);
console.log(
  `RESULT generate_p50_ms=${percentile(gen, 0.5).toFixed(1)} generate_p95_ms=${percentile(gen, 0.95).toFixed(1)} needsRenewal_p50_ms=${percentile(check, 0.5).toFixed(3)} reuseCheck_p50_ms=${percentile(full, 0.5).toFixed(3)}`,
);
