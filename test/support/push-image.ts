// Pushes small images into a test registry over the OCI distribution API, with plain fetch (not
// kcr's pusher): an ordinary image (config with a command, one layer) or a checkpoint image
// (the archive as its one layer, restore annotations on the manifest, as kcr's agent pushes it).
import { createHash } from 'node:crypto';

export interface PushTarget {
  /** http://host:port */
  url: string;
  /** host:port, as image references name it */
  host: string;
  auth?: { username: string; password: string };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function headers(t: PushTarget, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...(t.auth ? { authorization: `Basic ${Buffer.from(`${t.auth.username}:${t.auth.password}`).toString('base64')}` } : {}) };
}

async function putBlob(t: PushTarget, repo: string, body: Buffer): Promise<string> {
  const digest = sha(body);
  const start = await fetch(`${t.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: headers(t) });
  if (start.status !== 202) throw new Error(`blob upload to ${repo}: ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get('location')!, t.url);
  loc.searchParams.set('digest', digest);
  const res = await fetch(loc, { method: 'PUT', body, headers: headers(t, { 'content-type': 'application/octet-stream' }) });
  if (res.status !== 201) throw new Error(`blob PUT to ${repo}: ${res.status} ${await res.text()}`);
  return digest;
}

/** Pushes config + layers + manifest; returns `host/repo@sha256:…` (by digest) and `host/repo:tag`. */
export async function pushImage(
  t: PushTarget,
  repo: string,
  tag: string,
  img: { config: object; layers: Buffer[]; annotations?: Record<string, string> },
): Promise<{ byDigest: string; byTag: string; digest: string }> {
  const config = Buffer.from(JSON.stringify(img.config));
  const layers = [];
  for (const l of img.layers) layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await putBlob(t, repo, l), size: l.length });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await putBlob(t, repo, config), size: config.length },
      layers,
      ...(img.annotations ? { annotations: img.annotations } : {}),
    }),
  );
  const res = await fetch(`${t.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: headers(t, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }),
    body: manifest,
  });
  if (res.status !== 201) throw new Error(`manifest PUT ${repo}:${tag}: ${res.status} ${await res.text()}`);
  const digest = sha(manifest);
  return { byDigest: `${t.host}/${repo}@${digest}`, byTag: `${t.host}/${repo}:${tag}`, digest };
}

/** An ordinary amd64 image with a command and one (empty) layer. */
export function pushAppImage(t: PushTarget, repo: string, tag: string) {
  return pushImage(t, repo, tag, {
    config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['/app'] }, rootfs: { type: 'layers', diff_ids: [sha(Buffer.alloc(1024))] } },
    layers: [Buffer.alloc(1024)],
  });
}

/** A checkpoint image of `archive`, annotated for CRI-O and containerd as kcr's agent does it. */
export function pushCheckpointImage(t: PushTarget, repo: string, tag: string, archive: Buffer, container: string, originalImage: string) {
  return pushImage(t, repo, tag, {
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(archive)] } },
    layers: [archive],
    annotations: {
      'io.kubernetes.cri-o.annotations.checkpoint.name': container,
      'org.criu.checkpoint.container.name': container,
      'org.criu.checkpoint.rootfsImageName': originalImage,
    },
  });
}
