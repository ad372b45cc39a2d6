// The retention shell with fakes (no module mocking): a Checkpoint deleted under retention takes
// its image with it only when that image lies in the Checkpoint's own namespace's repositories.
import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointSchedule } from '../../../src/api/types.ts';
import type { KubeJson } from '../../../src/kube/kube-json.ts';
import { ObjectCache } from '../../../src/controller/object-cache.ts';
import { RetentionRunner } from '../../../src/controller/retention-runner.ts';
import { silentLogger } from '../../../src/log.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const REPOS = { registry: 'reg.example:5000', prefix: 'kcr' };

const cp = (name: string, minute: number, runtimeImage: string): Checkpoint => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'Checkpoint',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}`, creationTimestamp: `2026-11-24T06:0${minute}:00Z` },
  spec: { containerName: 'app', identity: 'web-0', podName: 'web-0', checkpointTimestamp: `2026-11-24T06:0${minute}:00Z`, checkpointScheduleRef: { name: 's' } },
  status: { phase: 'ImageBuilt', runtimeImage },
});

const schedule: CheckpointSchedule = {
  apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'CheckpointSchedule',
  metadata: { name: 's', namespace: 'team-a', uid: 'sched' }, spec: { schedule: '* * * * *', selector: {}, retention: { maxCheckpointsPerContainer: 1 } },
};

async function retain(checkpoints: Checkpoint[]) {
  const cache = new ObjectCache({ namespaces: undefined });
  for (const c of checkpoints) cache.upsert('Checkpoint', c);
  cache.upsert('CheckpointSchedule', schedule);
  const deletedCrs: string[] = [];
  const deletedImages: string[] = [];
  const api = { delete: async (path: string) => void deletedCrs.push(path) } as unknown as KubeJson;
  const runner = new RetentionRunner({
    api, cache, events: { event: async () => {} }, logger: silentLogger(), repositories: REPOS,
    deleteManifest: async (registry, repository, d) => {
      deletedImages.push(`${registry}/${repository}@${d}`);
      return 'deleted';
    },
  });
  const pass = await runner.run();
  return { pass, deletedCrs, deletedImages };
}

describe('retention and checkpoint images', () => {
  it('deletes the image of a Checkpoint of its own namespace', async () => {
    const own = `reg.example:5000/kcr/team-a/web-0@${digest('a')}`;
    const { deletedImages, pass } = await retain([cp('old', 1, own), cp('new', 2, `reg.example:5000/kcr/team-a/web-0@${digest('b')}`)]);
    expect(pass.deleted.map((d) => d.name)).toEqual(['old']);
    expect(deletedImages).toEqual([own]);
  });

  it.each([
    ['another namespace’s repository', `reg.example:5000/kcr/team-b/vault-0@${digest('a')}`],
    ['a namespace it prefixes', `reg.example:5000/kcr/team-ab/web-0@${digest('a')}`],
    ['another registry', `evil.example/kcr/team-a/web-0@${digest('a')}`],
  ])('never deletes an image in %s, whatever the Checkpoint says; the Checkpoint itself goes', async (_name, foreign) => {
    const { deletedImages, deletedCrs } = await retain([cp('old', 1, foreign), cp('new', 2, `reg.example:5000/kcr/team-a/web-0@${digest('b')}`)]);
    expect(deletedCrs).toHaveLength(1);
    expect(deletedImages).toEqual([]);
  });
});
