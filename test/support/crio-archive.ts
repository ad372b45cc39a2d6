// A small checkpoint archive laid out as CRI-O writes one (config.dump, spec.dump with the pod's
// identity in its annotations, checkpoint/pages-1.img), for tests that stand in for a kubelet
// without a node: the agent reads these files before it pushes anything.
import { randomBytes } from 'node:crypto';
import tar from 'tar-stream';

export interface CrioArchiveOwner {
  namespace: string;
  pod: string;
  container: string;
  podUid?: string;
  image?: string;
}

/** The archive's bytes (an uncompressed tar). */
export async function crioArchive(owner: CrioArchiveOwner, memoryBytes = 64 * 1024): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const image = owner.image ?? 'docker.io/library/counter:1.0';
  const entry = (name: string, body: Buffer) => new Promise<void>((res, rej) => pack.entry({ name, mode: 0o600 }, body, (e) => (e ? rej(e) : res())));
  await entry('config.dump', Buffer.from(JSON.stringify({ id: 'c0ffee', rootfsImageName: image, rootfsImageRef: 'f'.repeat(64) })));
  await entry(
    'spec.dump',
    Buffer.from(
      JSON.stringify({
        annotations: {
          'io.kubernetes.pod.name': owner.pod,
          'io.kubernetes.pod.namespace': owner.namespace,
          'io.kubernetes.container.name': owner.container,
          ...(owner.podUid ? { 'io.kubernetes.pod.uid': owner.podUid } : {}),
          'io.kubernetes.cri-o.Annotations': '{}',
        },
      }),
    ),
  );
  await entry('checkpoint/pages-1.img', randomBytes(memoryBytes));
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}
