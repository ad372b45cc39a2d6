import { describe, expect, it } from 'vitest';
import { TemplateError, either, templateObject, when, type K8sObject } from '../../../packaging/chart-template.ts';

const deployment = (): K8sObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'kcr-system' },
  spec: {
    replicas: 2,
    template: {
      spec: {
        containers: [
          { name: 'app', image: 'kcr:0.1.0', env: [{ name: 'A', value: 'a' }, { name: 'KCR_LOG_LEVEL', value: 'info' }], resources: { limits: { memory: '512Mi' } } },
          { name: 'side', image: 'other:1' },
        ],
      },
    },
  },
});

describe('templateObject', () => {
  it('puts each expression where its path points, and leaves the rest as the manifest has it', () => {
    const text = templateObject(deployment(), [
      { op: 'scalar', path: 'spec.replicas', expr: '.Values.replicas' },
      { op: 'scalar', path: 'spec.template.spec.containers[name=app].env[name=KCR_LOG_LEVEL].value', expr: '.Values.logLevel | quote' },
      { op: 'block', path: 'spec.template.spec.containers[name=app].resources', expr: '.Values.resources' },
      { op: 'optional', path: 'spec.template.spec.priorityClassName', expr: '.Values.priorityClassName', shape: 'string' },
      { op: 'optional', path: 'spec.template.spec.nodeSelector', expr: '.Values.nodeSelector', shape: 'block' },
      { op: 'append', path: 'spec.template.spec.containers[name=app].env', expr: '.Values.extraEnv' },
    ]);
    expect(text).toContain('replicas: {{ .Values.replicas }}');
    expect(text).toContain('value: {{ .Values.logLevel | quote }}');
    expect(text).toMatch(/\n {10}resources:\n\{\{- toYaml \(\.Values\.resources\) \| nindent 12 \}\}/);
    expect(text).toMatch(/\{\{- with \(\.Values\.priorityClassName\) \}\}\n {6}priorityClassName: \{\{ \. \| quote \}\}\n\{\{- end \}\}/);
    expect(text).toMatch(/\{\{- with \(\.Values\.nodeSelector\) \}\}\n {6}nodeSelector:\n\{\{- toYaml \. \| nindent 8 \}\}\n\{\{- end \}\}/);
    expect(text).toMatch(/value: \{\{ \.Values\.logLevel \| quote \}\}\n\{\{- with \(\.Values\.extraEnv\) \}\}\n\{\{- toYaml \. \| nindent 12 \}\}\n\{\{- end \}\}/);
    expect(text).toContain('image: other:1');
    expect(text).toContain('- name: A\n              value: a');
    expect(text).not.toContain('__HELM_');
  });

  it('never changes the object it was given', () => {
    const o = deployment();
    const before = JSON.stringify(o);
    templateObject(o, [{ op: 'scalar', path: 'spec.replicas', expr: '.Values.replicas' }]);
    expect(JSON.stringify(o)).toBe(before);
  });

  it('appends template text to a list and to a map, at their indentation', () => {
    const cm: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 's' }, data: { A: 'a' } };
    const text = templateObject(cm, [{ op: 'mapText', path: 'data', text: '{{- range $k, $v := .Values.settings }}\n{{ $k }}: {{ $v | quote }}\n{{- end }}' }]);
    expect(text).toContain('data:\n  A: a\n{{- range $k, $v := .Values.settings }}\n  {{ $k }}: {{ $v | quote }}\n{{- end }}');
    const list = templateObject(deployment(), [{ op: 'appendText', path: 'spec.template.spec.containers[name=app].env', text: '{{- if .Values.x }}\n- name: X\n  value: x\n{{- end }}' }]);
    expect(list).toContain('value: info\n{{- if .Values.x }}\n            - name: X\n              value: x\n{{- end }}');
  });

  it('refuses a path that is not in the manifest, so a renamed field fails the build instead of dropping a value', () => {
    expect(() => templateObject(deployment(), [{ op: 'scalar', path: 'spec.template.spec.containers[name=nope].image', expr: 'x' }])).toThrow(TemplateError);
    expect(() => templateObject(deployment(), [{ op: 'scalar', path: 'spec.paused', expr: 'x' }])).toThrow(/not in the manifest/);
    expect(() => templateObject(deployment(), [{ op: 'optional', path: 'spec.replicas', expr: 'x', shape: 'string' }])).toThrow(/in the manifest already/);
  });
});

describe('when and either', () => {
  it('wrap templates in a condition', () => {
    expect(when('.Values.on', 'a: 1\n')).toBe('{{- if .Values.on }}\na: 1\n{{- end }}\n');
    expect(either('.Values.on', 'a: 1', 'a: 2')).toBe('{{- if .Values.on }}\na: 1\n{{- else }}\na: 2\n{{- end }}\n');
  });
});
