package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ControlHandler is the test control endpoint (loopback HTTP, JSON).
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /v1/info", s.handleInfo)
	mux.HandleFunc("POST /v1/faults/checkpoints", s.handleCheckpointFaults)
	mux.HandleFunc("POST /v1/faults/restores", s.handleRestoreFaults)
	mux.HandleFunc("POST /v1/faults/crash", s.handleCrash)
	mux.HandleFunc("GET /v1/images", s.handleImages)
	mux.HandleFunc("DELETE /v1/images", s.handleDeleteImage)
	mux.HandleFunc("GET /v1/containers", s.handleContainers)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, a ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, a...)})
}

// decodeStrict reads one JSON object with only known fields into v.
func decodeStrict(r *http.Request, v any) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 1<<20)); err != nil {
		return err
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("bad JSON body: more than one value")
	}
	return nil
}

func (s *Server) handleInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"node": s.cfg.Node, "profile": s.p.Name, "runtimeName": s.p.Runtime, "runtimeVersion": s.p.Version, "restoreEnabled": s.p.Restore,
	})
}

func (s *Server) handleCheckpointFaults(w http.ResponseWriter, r *http.Request) {
	var body struct {
		FailNext *int  `json:"failNext"`
		FailAll  *bool `json:"failAll"`
		DelayMs  *int  `json:"delayMs"`
	}
	if err := decodeStrict(r, &body); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	switch {
	case body.FailNext == nil && body.FailAll == nil && body.DelayMs == nil:
		fail(w, http.StatusBadRequest, "give one of failNext (count), failAll (bool), delayMs (ms)")
		return
	case body.FailNext != nil && *body.FailNext < 0, body.DelayMs != nil && *body.DelayMs < 0:
		fail(w, http.StatusBadRequest, "failNext and delayMs must be >= 0")
		return
	}
	f := s.faults
	f.mu.Lock()
	if body.FailNext != nil {
		f.checkpointNext = *body.FailNext
	}
	if body.FailAll != nil {
		f.checkpointAll = *body.FailAll
	}
	if body.DelayMs != nil {
		f.checkpointDelay = time.Duration(*body.DelayMs) * time.Millisecond
	}
	out := map[string]any{"failNext": f.checkpointNext, "failAll": f.checkpointAll, "delayMs": f.checkpointDelay.Milliseconds()}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRestoreFaults(w http.ResponseWriter, r *http.Request) {
	var body struct {
		FailMatching *[]string `json:"failMatching"`
		FailNext     *int      `json:"failNext"`
	}
	if err := decodeStrict(r, &body); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	switch {
	case body.FailMatching == nil && body.FailNext == nil:
		fail(w, http.StatusBadRequest, "give failMatching (list of substrings of image ref or id) or failNext (count)")
		return
	case body.FailNext != nil && *body.FailNext < 0:
		fail(w, http.StatusBadRequest, "failNext must be >= 0")
		return
	}
	if body.FailMatching != nil {
		for _, m := range *body.FailMatching {
			if m == "" {
				fail(w, http.StatusBadRequest, "failMatching items must not be empty")
				return
			}
		}
	}
	f := s.faults
	f.mu.Lock()
	if body.FailMatching != nil {
		f.restoreMatching = append([]string{}, *body.FailMatching...)
	}
	if body.FailNext != nil {
		f.restoreNext = *body.FailNext
	}
	out := map[string]any{"failMatching": f.restoreMatching, "failNext": f.restoreNext}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) findRunning(ns, pod, container string) (*Container, *app) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *Container
	for _, c := range s.containers {
		if c.podNamespace() == ns && c.podName() == pod && c.name() == container {
			if found == nil || c.CreatedAt.After(found.CreatedAt) {
				found = c
			}
		}
	}
	if found == nil {
		return nil, nil
	}
	if found.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
		return found, found.app
	}
	return found, nil
}

func (s *Server) handleCrash(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Namespace string `json:"namespace"`
		Pod       string `json:"pod"`
		Container string `json:"container"`
		Mode      string `json:"mode"`
	}
	if err := decodeStrict(r, &body); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if body.Namespace == "" || body.Pod == "" || body.Container == "" {
		fail(w, http.StatusBadRequest, "namespace, pod and container are required")
		return
	}
	switch body.Mode {
	case "now":
		c, a := s.findRunning(body.Namespace, body.Pod, body.Container)
		if c == nil {
			fail(w, http.StatusNotFound, "no container %s in pod %s/%s on this node", body.Container, body.Namespace, body.Pod)
			return
		}
		if a == nil {
			fail(w, http.StatusConflict, "container %s of pod %s/%s is not running", body.Container, body.Namespace, body.Pod)
			return
		}
		a.write(time.Now(), "kcr-sim app crashing (fault crash=now)")
		a.exit(1, "Error")
	case "loop":
		s.faults.setCrashLoop(body.Namespace, body.Pod, body.Container, true)
		// A running container enters the loop too: it exits ~1.5 s from now.
		if _, a := s.findRunning(body.Namespace, body.Pod, body.Container); a != nil {
			go func() {
				time.Sleep(1500 * time.Millisecond)
				if s.faults.crashLoop(body.Namespace, body.Pod, body.Container) {
					a.write(time.Now(), "kcr-sim app crashing (fault crash=loop)")
					a.exit(1, "Error")
				}
			}()
		}
	case "off":
		s.faults.setCrashLoop(body.Namespace, body.Pod, body.Container, false)
	default:
		fail(w, http.StatusBadRequest, "mode must be now, loop or off, got %q", body.Mode)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": body.Mode})
}

func (s *Server) handleImages(w http.ResponseWriter, _ *http.Request) {
	type view struct {
		ID          string            `json:"id"`
		RepoTags    []string          `json:"repoTags"`
		RepoDigests []string          `json:"repoDigests"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
		Synthetic   bool              `json:"synthetic,omitempty"`
		Checkpoint  string            `json:"checkpointOf,omitempty"`
	}
	out := []view{}
	for _, i := range s.images.List() {
		ann := i.ManifestAnnotations
		if len(ann) == 0 {
			ann = i.TargetAnnotations
		}
		_, det := DetectCheckpoint(s.p, ImageAnnotations{Manifest: i.ManifestAnnotations, Target: i.TargetAnnotations})
		v := view{ID: i.ID, RepoTags: i.RepoTags, RepoDigests: i.RepoDigests, Size: i.Size, Annotations: ann, Synthetic: i.Synthetic}
		if det {
			v.Checkpoint = ann[s.p.DetectAnnotation]
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeleteImage(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		fail(w, http.StatusBadRequest, "query parameter ref is required")
		return
	}
	ok, err := s.images.Remove(ref)
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if !ok {
		fail(w, http.StatusNotFound, "image %q is not on this node", ref)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": ref})
}

func (s *Server) handleContainers(w http.ResponseWriter, _ *http.Request) {
	type view struct {
		ID           string `json:"id"`
		Pod          string `json:"pod"`
		Namespace    string `json:"namespace"`
		Container    string `json:"container"`
		State        string `json:"state"`
		Image        string `json:"image"`
		Counter      *int64 `json:"counter,omitempty"`
		RestoredFrom string `json:"restoredFrom,omitempty"`
		ExitCode     int32  `json:"exitCode"`
		Reason       string `json:"reason,omitempty"`
	}
	s.mu.Lock()
	now := time.Now()
	out := []view{}
	for _, c := range s.containers {
		v := view{ID: c.ID, Pod: c.podName(), Namespace: c.podNamespace(), Container: c.name(), State: c.State.String(),
			Image: givenImage(c.Config), RestoredFrom: c.restoredFrom, ExitCode: c.ExitCode, Reason: c.Reason}
		switch {
		case c.State == runtimeapi.ContainerState_CONTAINER_RUNNING && c.app != nil:
			n := c.app.counterAt(now)
			v.Counter = &n
		case c.app != nil:
			n := c.lastCounter
			v.Counter = &n
		}
		out = append(out, v)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+out[i].Pod+out[i].Container < out[j].Namespace+out[j].Pod+out[j].Container
	})
	writeJSON(w, http.StatusOK, out)
}
