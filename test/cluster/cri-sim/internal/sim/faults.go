package sim

import (
	"strings"
	"sync"
	"time"
)

// Faults are failures a test injects through the control endpoint.
type Faults struct {
	mu              sync.Mutex
	checkpointNext  int
	checkpointAll   bool
	checkpointDelay time.Duration
	restoreNext     int
	restoreMatching []string
	crashLoops      map[string]bool // namespace/pod/container
}

func NewFaults() *Faults { return &Faults{crashLoops: map[string]bool{}} }

func (f *Faults) checkpointFails() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.checkpointAll {
		return true
	}
	if f.checkpointNext > 0 {
		f.checkpointNext--
		return true
	}
	return false
}

func (f *Faults) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkpointDelay
}

// restoreFails: a pending failNext, or an image reference / ID containing a pattern.
func (f *Faults) restoreFails(refs ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.restoreNext > 0 {
		f.restoreNext--
		return true
	}
	for _, m := range f.restoreMatching {
		for _, r := range refs {
			if r != "" && strings.Contains(r, m) {
				return true
			}
		}
	}
	return false
}

func crashKey(ns, pod, container string) string { return ns + "/" + pod + "/" + container }

func (f *Faults) crashLoop(ns, pod, container string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashLoops[crashKey(ns, pod, container)]
}

func (f *Faults) setCrashLoop(ns, pod, container string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.crashLoops[crashKey(ns, pod, container)] = true
	} else {
		delete(f.crashLoops, crashKey(ns, pod, container))
	}
}
