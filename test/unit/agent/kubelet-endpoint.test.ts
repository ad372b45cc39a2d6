import { describe, expect, it } from 'vitest';
import { kubeletEndpoint } from '../../../src/kubelet/kubelet-endpoint.ts';

describe('kubeletEndpoint', () => {
  it.each<[string, object, object]>([
    ['InternalIP and the reported port', { status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '10.0.0.5' }], daemonEndpoints: { kubeletEndpoint: { Port: 10260 } } } }, { host: '10.0.0.5', port: 10260 }],
    ['ExternalIP when there is no InternalIP, default port', { status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'ExternalIP', address: '203.0.113.7' }] } }, { host: '203.0.113.7', port: 10250 }],
    ['the first address otherwise', { status: { addresses: [{ type: 'Hostname', address: 'n1.example' }] } }, { host: 'n1.example', port: 10250 }],
    ['IPv6', { status: { addresses: [{ type: 'InternalIP', address: 'fd00::5' }], daemonEndpoints: { kubeletEndpoint: { Port: 0 } } } }, { host: 'fd00::5', port: 10250 }],
    ['no address', { metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '' }] } }, { error: 'node n1 reports no address for its kubelet' }],
  ])('%s', (_name, node, want) => expect(kubeletEndpoint(node)).toEqual(want));
});
