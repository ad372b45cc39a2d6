package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestControlFaults(t *testing.T) {
	t.Parallel()
	open, _ := registries(t)
	n := startNode(t, "cri-o-1.34", open.host)
	ctl := httptest.NewServer(n.srv.ControlHandler())
	defer ctl.Close()

	resp, err := http.Get(ctl.URL + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info["node"] != "kcr-node-3" || info["runtimeName"] != "cri-o" || info["runtimeVersion"] != "1.34.0" || info["restoreEnabled"] != true || info["profile"] != "cri-o-1.34" {
		t.Errorf("info %v", info)
	}

	// Bad input is a 400, an unknown container a 404.
	for _, c := range []struct{ path, body string }{
		{"/v1/faults/checkpoints", "{"},
		{"/v1/faults/checkpoints", `{"failNext":"x"}`},
		{"/v1/faults/checkpoints", `{"failNxt":1}`},
		{"/v1/faults/checkpoints", `{}`},
		{"/v1/faults/checkpoints", `{"delayMs":-1}`},
		{"/v1/faults/restores", `{"failMatching":"x"}`},
		{"/v1/faults/restores", `{"failMatching":[""]}`},
		{"/v1/faults/crash", `{"namespace":"default","pod":"p","container":"c","mode":"sometimes"}`},
		{"/v1/faults/crash", `{"pod":"p","container":"c","mode":"now"}`},
	} {
		if code, body := post(t, ctl.URL+c.path, c.body); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("POST %s %s = %d %s, want 400", c.path, c.body, code, body)
		}
	}
	if code, _ := post(t, ctl.URL+"/v1/faults/crash", `{"namespace":"default","pod":"nope","container":"c","mode":"now"}`); code != 404 {
		t.Errorf("crash of an unknown container = %d, want 404", code)
	}

	base := open.pushBase(t, "ctl/base")
	ref := n.mustPull(base)
	p := n.runPod("orig", nil)
	id := n.run(p, p.containerConfig("app", ref, base))

	// failNext: the next checkpoint fails with the runtime's CRIU text, the one after works.
	if code, _ := post(t, ctl.URL+"/v1/faults/checkpoints", `{"failNext":1}`); code != 200 {
		t.Fatal(code)
	}
	_, err = n.checkpoint(id)
	wantErr(t, err, "failed to checkpoint container "+id+": running \"/usr/bin/crun\"")
	wantErr(t, err, "CRIU checkpointing failed")
	time.Sleep(1100 * time.Millisecond)
	loc, err := n.checkpoint(id)
	if err != nil {
		t.Fatalf("checkpoint after failNext: %v", err)
	}
	// A slow checkpoint past the kubelet's timeout.
	post(t, ctl.URL+"/v1/faults/checkpoints", `{"delayMs":3000}`)
	_, err = n.rt.CheckpointContainer(n.ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: loc + ".slow", Timeout: 1})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("slow checkpoint: %v", err)
	}
	post(t, ctl.URL+"/v1/faults/checkpoints", `{"delayMs":0}`)

	ck := open.pushCheckpoint(t, "ctl/ckpt", "bad", loc, "app")
	ckRef := n.mustPull(ck)
	if code, _ := post(t, ctl.URL+"/v1/faults/restores", `{"failMatching":["ctl/ckpt:bad"]}`); code != 200 {
		t.Fatal(code)
	}
	p2 := n.runPod("copy", nil)
	cid, err := n.create(p2, p2.containerConfig("app", ckRef, ck))
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	err = n.start(cid)
	wantErr(t, err, "failed to restore container "+cid+": container restore failed: CRIU restoring failed")
	// CRI-O removes a container whose restore failed.
	if _, err := n.rt.ContainerStatus(n.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cid}); status.Code(err) != codes.NotFound {
		t.Errorf("status after failed restore: %v", err)
	}
	post(t, ctl.URL+"/v1/faults/restores", `{"failMatching":[]}`)
	cid = n.run(p2, p2.containerConfig("app", ckRef, ck))

	// crash now: exit 1, reason Error.
	if code, body := post(t, ctl.URL+"/v1/faults/crash", `{"namespace":"default","pod":"copy","container":"app","mode":"now"}`); code != 200 {
		t.Fatalf("crash now: %d %s", code, body)
	}
	if s := n.status(cid); s.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || s.GetExitCode() != 1 || s.GetReason() != "Error" {
		t.Errorf("after crash: %v %d %s", s.GetState(), s.GetExitCode(), s.GetReason())
	}
	// crash loop: every start exits about 1.5 s later, until off.
	post(t, ctl.URL+"/v1/faults/crash", `{"namespace":"default","pod":"orig","container":"app","mode":"loop"}`)
	cfg := p.containerConfig("app", ref, base)
	cfg.LogPath = "app/1.log"
	lid := n.run(p, cfg)
	waitFor(t, "loop crash", 3*time.Second, func() bool { return n.status(lid).GetState() == runtimeapi.ContainerState_CONTAINER_EXITED })
	if s := n.status(lid); s.GetExitCode() != 1 || time.Duration(s.GetFinishedAt()-s.GetStartedAt()) < time.Second {
		t.Errorf("loop crash: exit %d after %v", s.GetExitCode(), time.Duration(s.GetFinishedAt()-s.GetStartedAt()))
	}
	post(t, ctl.URL+"/v1/faults/crash", `{"namespace":"default","pod":"orig","container":"app","mode":"off"}`)

	resp, _ = http.Get(ctl.URL + "/v1/containers")
	var cs []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&cs)
	resp.Body.Close()
	if len(cs) < 2 {
		t.Errorf("containers %v", cs)
	}
	resp, _ = http.Get(ctl.URL + "/v1/images")
	var imgs []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&imgs)
	resp.Body.Close()
	if len(imgs) != 2 {
		t.Errorf("images %v", imgs)
	}
	del := func(ref string) int {
		req, _ := http.NewRequest(http.MethodDelete, ctl.URL+"/v1/images?ref="+ref, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if del(base) != 200 || del(base) != 404 || del("") != 400 {
		t.Error("DELETE /v1/images")
	}
}

// TestBinary runs kcr-cri-sim as the harness does: one ready line, SIGTERM exits 0.
func TestBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kcr-cri-sim")
	if out, err := exec.Command("go", "build", "-o", bin, "kcr.io/cri-sim/cmd/kcr-cri-sim").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--node", "n1", "--profile", "containerd-2.4:restore=on", "--socket", dir+"/x.sock", "--state-dir", dir+"/s").CombinedOutput(); err == nil || !strings.Contains(string(out), "containerd 2.4 removed restore") {
		t.Errorf("containerd-2.4:restore=on: %v %s", err, out)
	}
	sock := filepath.Join(dir, "cri.sock")
	_ = os.WriteFile(sock, []byte("stale"), 0o600)
	cmd := exec.Command(bin, "--node", "kcr-node-2", "--profile", "cri-o-1.34", "--socket", sock, "--control", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"))
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready control=127.0.0.1:") {
		t.Fatalf("first stdout line %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ready control="))
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Errorf("healthz %q", b)
	}
	logs := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stderr); logs <- string(b) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatal("no exit after SIGTERM")
	}
	l := <-logs
	if !strings.Contains(l, `"node":"kcr-node-2"`) || !strings.HasPrefix(l, "{") {
		t.Errorf("stderr is not JSON logs with node: %s", l)
	}
}
