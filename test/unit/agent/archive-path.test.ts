import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { archiveFileName, archivePrefix, archiveTime, ArchivePathError, localArchivePath } from '../../../src/agent/archive-path.ts';

describe('archive path mapping', () => {
  it('maps the path the kubelet reports on the node onto the agent checkpoint folder by file name', () => {
    const reported = '/var/lib/kubelet/checkpoints/checkpoint-web-0_apps-app-2026-11-24T08:30:00Z.tar';
    expect(localArchivePath(reported, '/host/checkpoints')).toBe('/host/checkpoints/checkpoint-web-0_apps-app-2026-11-24T08:30:00Z.tar');
    // A kubelet with another root dir (--root-dir) still maps by name.
    expect(localArchivePath('/data/kubelet/checkpoints/a.tar', '/mnt/ck')).toBe('/mnt/ck/a.tar');
    expect(localArchivePath('a.tar', '/mnt/ck')).toBe('/mnt/ck/a.tar');
  });

  it.each(['', '/', '/var/lib/kubelet/checkpoints/..', '/x/.', 'bad\0name', '..\\evil.tar'])('refuses %j, which names no archive file', (reported) => {
    expect(() => archiveFileName(reported)).toThrow(ArchivePathError);
  });

  it('never leaves the checkpoint folder, whatever the kubelet reports', () => {
    fc.assert(
      fc.property(fc.string(), (reported) => {
        let local: string;
        try {
          local = localArchivePath(reported, '/ck');
        } catch (err) {
          return err instanceof ArchivePathError;
        }
        return local.startsWith('/ck/') && !local.slice(4).includes('/') && local !== '/ck/..';
      }),
    );
  });

  it('reads the time of an archive of this container only', () => {
    const prefix = archivePrefix('web-0', 'apps', 'app');
    expect(archiveTime('checkpoint-web-0_apps-app-2026-11-24T08:30:00Z.tar', prefix)).toEqual(new Date('2026-11-24T08:30:00Z'));
    expect(archiveTime('checkpoint-web-0_apps-app-2026-11-24T09:30:00+01:00.tar', prefix)).toEqual(new Date('2026-11-24T08:30:00Z'));
    // Container "app-sidecar" of the same pod shares the prefix but is another container.
    expect(archiveTime('checkpoint-web-0_apps-app-sidecar-2026-11-24T08:30:00Z.tar', prefix)).toBeUndefined();
    expect(archiveTime('checkpoint-web-0_apps-app-notatime.tar', prefix)).toBeUndefined();
    expect(archiveTime('checkpoint-web-1_apps-app-2026-11-24T08:30:00Z.tar', prefix)).toBeUndefined();
  });
});
