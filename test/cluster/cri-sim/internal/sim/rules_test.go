package sim

import (
	"slices"
	"strings"
	"testing"
)

func mustProfile(t *testing.T, spec string) Profile {
	t.Helper()
	p, err := ParseProfile(spec)
	if err != nil {
		t.Fatalf("ParseProfile(%q): %v", spec, err)
	}
	return p
}

func TestParseProfile(t *testing.T) {
	cases := []struct {
		spec, runtime, version string
		restore                bool
		err                    string
	}{
		{spec: "cri-o-1.34", runtime: "cri-o", version: "1.34.0", restore: true},
		{spec: "cri-o-1.34:restore=off", runtime: "cri-o", version: "1.34.0", restore: false},
		{spec: "cri-o-1.29", runtime: "cri-o", version: "1.29.0", restore: false},
		{spec: "cri-o-1.29:restore=on", runtime: "cri-o", version: "1.29.0", restore: true},
		{spec: "containerd-2.1", runtime: "containerd", version: "v2.1.0", restore: true},
		{spec: "containerd-2.1:restore=on", runtime: "containerd", version: "v2.1.0", restore: true},
		{spec: "containerd-2.1:restore=off", err: "has no switch for restore"},
		{spec: "containerd-2.3.4", runtime: "containerd", version: "v2.3.4", restore: false},
		{spec: "containerd-2.3.4:restore=on", runtime: "containerd", version: "v2.3.4", restore: true},
		{spec: "containerd-2.4", runtime: "containerd", version: "v2.4.0", restore: false},
		{spec: "containerd-2.4:restore=off", runtime: "containerd", version: "v2.4.0", restore: false},
		{spec: "containerd-2.4:restore=on", err: "containerd 2.4 removed restore"},
		{spec: "cri-o-1.99", err: "unknown profile"},
		{spec: "", err: "unknown profile"},
		{spec: "cri-o-1.34:restore=maybe", err: "bad profile option"},
		{spec: "cri-o-1.34:criu=on", err: "bad profile option"},
	}
	for _, c := range cases {
		p, err := ParseProfile(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseProfile(%q) error = %v, want it to contain %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseProfile(%q): %v", c.spec, err)
			continue
		}
		if p.Runtime != c.runtime || p.Version != c.version || p.Restore != c.restore {
			t.Errorf("ParseProfile(%q) = %s %s restore=%v, want %s %s restore=%v", c.spec, p.Runtime, p.Version, p.Restore, c.runtime, c.version, c.restore)
		}
	}
}

func TestDetectCheckpoint(t *testing.T) {
	crio := map[string]string{AnnotationCRIOCheckpoint: "app"}
	criu := map[string]string{AnnotationCRIUCheckpoint: "app"}
	cases := []struct {
		profile string
		ann     ImageAnnotations
		want    bool
	}{
		{"cri-o-1.34", ImageAnnotations{Manifest: crio}, true},
		{"cri-o-1.34", ImageAnnotations{Manifest: criu}, false},             // org.criu.* is not read
		{"cri-o-1.34", ImageAnnotations{Target: crio}, false},               // only the image manifest
		{"cri-o-1.34:restore=off", ImageAnnotations{Manifest: crio}, false}, // not even looked for
		{"cri-o-1.29", ImageAnnotations{Manifest: crio}, false},
		{"cri-o-1.29:restore=on", ImageAnnotations{Manifest: crio}, true},
		{"containerd-2.1", ImageAnnotations{Target: criu}, true},
		{"containerd-2.1", ImageAnnotations{Target: crio, Manifest: crio}, false},
		{"containerd-2.1", ImageAnnotations{Manifest: criu}, false}, // the index, when the tag names one
		{"containerd-2.3.4", ImageAnnotations{Target: criu}, true},  // detected even with the switch off
		{"containerd-2.4", ImageAnnotations{Target: criu}, false},
	}
	for _, c := range cases {
		_, got := DetectCheckpoint(mustProfile(t, c.profile), c.ann)
		if got != c.want {
			t.Errorf("%s: DetectCheckpoint(%v) = %v, want %v", c.profile, c.ann, got, c.want)
		}
	}
}

func TestDecideRestore(t *testing.T) {
	cases := []struct {
		profile  string
		detected bool
		want     RestoreAction
	}{
		{"cri-o-1.34", true, RestoreIt},
		{"cri-o-1.34", false, RunOrdinary},
		{"cri-o-1.29", true, RunOrdinary},
		{"containerd-2.1", true, RestoreIt},
		{"containerd-2.3.4", true, RefuseDisabled},
		{"containerd-2.3.4:restore=on", true, RestoreIt},
		{"containerd-2.4", true, RunOrdinary},
	}
	for _, c := range cases {
		if got := DecideRestore(mustProfile(t, c.profile), c.detected); got != c.want {
			t.Errorf("%s detected=%v: %v, want %v", c.profile, c.detected, got, c.want)
		}
	}
}

func TestDecideBase(t *testing.T) {
	cases := []struct {
		profile string
		local   bool
		want    BaseSource
	}{
		{"cri-o-1.34", true, BaseUseLocal},
		{"cri-o-1.34", false, BaseMissing},
		{"cri-o-1.29:restore=on", false, BaseMissing},
		{"containerd-2.1", true, BasePull},
		{"containerd-2.1", false, BasePull},
		{"containerd-2.3.4:restore=on", true, BaseUseLocal},
		{"containerd-2.3.4:restore=on", false, BasePull},
	}
	for _, c := range cases {
		if got := DecideBase(mustProfile(t, c.profile), c.local); got != c.want {
			t.Errorf("%s local=%v: %v, want %v", c.profile, c.local, got, c.want)
		}
	}
}

func TestMissingMounts(t *testing.T) {
	orig := []string{"/proc", "/dev/shm", "/etc/resolv.conf", "/etc/hosts", "/data", "/dev/termination-log"}
	cases := []struct {
		profile  string
		declared []string
		want     []string
	}{
		{"cri-o-1.34", []string{"/etc/hosts", "/data", "/dev/termination-log"}, nil},
		{"cri-o-1.34", []string{"/etc/hosts", "/dev/termination-log"}, []string{"/data"}},
		{"cri-o-1.34", nil, []string{"/etc/hosts", "/data", "/dev/termination-log"}},
		{"cri-o-1.29:restore=on", nil, nil},
		{"containerd-2.1", nil, nil},
	}
	for _, c := range cases {
		if got := MissingMounts(mustProfile(t, c.profile), orig, c.declared); !slices.Equal(got, c.want) {
			t.Errorf("%s declared=%v: %v, want %v", c.profile, c.declared, got, c.want)
		}
	}
	if got := missingMountsText("reg/ckpt:1", []string{"/a", "/b"}); got != `restoring "reg/ckpt:1" expects following bind mounts defined (/a,/b)` {
		t.Errorf("text: %s", got)
	}
}

func TestFailureStage(t *testing.T) {
	cases := []struct {
		profile string
		f       Failure
		want    Stage
	}{
		{"cri-o-1.34", FailExecNotFound, AtCreate},
		{"cri-o-1.29", FailExecNotFound, AtCreate},
		{"containerd-2.1", FailExecNotFound, AtStart},
		{"containerd-2.4", FailExecNotFound, AtStart},
		{"cri-o-1.34", FailNoCommand, AtCreate},
		{"containerd-2.4", FailNoCommand, AtCreate},
		{"cri-o-1.34", FailCRIURestore, AtStart},
		{"containerd-2.1", FailCRIURestore, AtStart},
		{"cri-o-1.34", FailBaseImage, AtCreate},
		{"containerd-2.1", FailBaseImage, AtCreate},
		{"cri-o-1.34", FailBindMounts, AtCreate},
		{"containerd-2.1", FailForeignArchive, AtCreate},
	}
	for _, c := range cases {
		if got := FailureStage(mustProfile(t, c.profile), c.f); got != c.want {
			t.Errorf("%s failure %d: %v, want %v", c.profile, c.f, got, c.want)
		}
	}
}

func TestErrorTexts(t *testing.T) {
	crio := mustProfile(t, "cri-o-1.34")
	crio129 := mustProfile(t, "cri-o-1.29")
	ctrd := mustProfile(t, "containerd-2.1")
	cases := []struct{ got, want string }{
		{createFailedText(crio, "/app"), "container create failed: executable file `/app` not found: No such file or directory"},
		{createFailedText(crio, "sleep"), "container create failed: executable file `sleep` not found in $PATH: No such file or directory"},
		{createFailedText(crio129, "/app"), `container create failed: runc create failed: unable to start container process: exec: "/app": stat /app: no such file or directory`},
		{createFailedText(ctrd, "/app"), `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: "/app": stat /app: no such file or directory: unknown`},
		{baseMissingText("ab"), `reading image "ab": image not known`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	if s := restoreFailedText(crio, "id1"); !strings.HasPrefix(s, "failed to restore container id1: container restore failed: CRIU restoring failed") {
		t.Errorf("cri-o restore text: %s", s)
	}
	if s := checkpointFailedText(crio, "id1"); !strings.HasPrefix(s, `failed to checkpoint container id1: running "/usr/bin/crun" ["checkpoint"`) {
		t.Errorf("cri-o checkpoint text: %s", s)
	}
	if s := restoreFailedText(ctrd, "id1"); !strings.HasPrefix(s, "failed to restore containerd task: ") {
		t.Errorf("containerd restore text: %s", s)
	}
}

func TestParseImageRef(t *testing.T) {
	cases := map[string]string{
		"busybox":                        "docker.io/library/busybox:latest",
		"docker.io/library/busybox:1.37": "docker.io/library/busybox:1.37",
		"127.0.0.1:5000/a/b:1":           "127.0.0.1:5000/a/b:1",
		"localhost/x@sha256:" + strings.Repeat("a", 64): "localhost/x@sha256:" + strings.Repeat("a", 64),
		"registry.example/web:1":                        "registry.example/web:1",
	}
	for in, want := range cases {
		r, err := ParseImageRef(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseImageRef(%q) = %v, %v; want %s", in, r.String(), err, want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a b", "x@sha256:zz"} {
		if _, err := ParseImageRef(bad); err == nil {
			t.Errorf("ParseImageRef(%q) succeeded", bad)
		}
	}
	if !IsLocalRegistry("127.0.0.5:5000") || !IsLocalRegistry("localhost:5000") || !IsLocalRegistry("[::1]:5000") || IsLocalRegistry("registry.example") {
		t.Error("IsLocalRegistry")
	}
	if NodeIndex("kcr-node-12") != 12 || NodeIndex("node") != 0 {
		t.Error("NodeIndex")
	}
}

func TestPagesHeader(t *testing.T) {
	s := AppState{Counter: 7, StartedAt: "2026-01-02T03:04:05.006Z", RestoredFrom: "reg/ckpt:1"}
	h := pagesHeader(s)
	want := `{"app":"kcr-sim-counter","state":{"counter":7,"startedAt":"2026-01-02T03:04:05.006Z","restoredFrom":"reg/ckpt:1"}}` + "\n"
	if string(h) != want {
		t.Fatalf("header %q", h)
	}
	got, err := DecodePagesHeader(append(h, 1, 2, 3))
	if err != nil || got != s {
		t.Fatalf("decode: %v %v", got, err)
	}
	if pagesSize(10, h) != 4096 || pagesSize(4097, h) != 8192 {
		t.Fatal("pagesSize")
	}
	// The filler is the same xorshift32 stream as sim-node/archive.ts: seed FNV-1a("abc").
	if seedOf("abc") != 0x1a47e90b {
		t.Fatalf("seedOf = %#x", seedOf("abc"))
	}
}
