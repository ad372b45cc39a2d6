package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The app's memory in checkpoint/pages-1.img, byte for byte as test/cluster/sim-node/archive.ts
// writes it (pagesHeader, fillerBlock, seedOf): one JSON line, then deterministic filler up to
// the simulated memory size rounded up to a page.

const (
	pageSize   = 4096
	pagesMagic = "kcr-sim-counter"
	fillerSize = 64 * 1024
)

// AppState is the app's memory.
type AppState struct {
	Counter      int64  `json:"counter"`
	StartedAt    string `json:"startedAt"`
	RestoredFrom string `json:"restoredFrom,omitempty"`
}

// isoMillis formats t as JavaScript's Date.toISOString does.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func pagesHeader(s AppState) []byte {
	b, _ := json.Marshal(struct {
		App   string   `json:"app"`
		State AppState `json:"state"`
	}{pagesMagic, s})
	return append(b, '\n')
}

func pagesSize(memoryBytes int64, header []byte) int64 {
	want := max(memoryBytes, int64(len(header)))
	return (want + pageSize - 1) / pageSize * pageSize
}

// seedOf is 32-bit FNV-1a over the id's characters.
func seedOf(s string) uint32 {
	h := uint32(2166136261)
	for _, c := range s {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// fillerBlock is xorshift32 output: memory that does not compress to nothing.
func fillerBlock(seed uint32) []byte {
	b := make([]byte, fillerSize)
	x := seed
	if x == 0 {
		x = 0x9e3779b9
	}
	for i := 0; i < len(b); i += 4 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		binary.LittleEndian.PutUint32(b[i:], x)
	}
	return b
}

// writePages streams pages-1.img for state to w; it returns the size written.
func writePages(w io.Writer, s AppState, memoryBytes int64, containerID string) (int64, error) {
	header := pagesHeader(s)
	size := pagesSize(memoryBytes, header)
	block := fillerBlock(seedOf(containerID))
	left := size
	first := append(append([]byte{}, header...), block[:max(0, min(left, fillerSize)-int64(len(header)))]...)
	n := min(int64(len(first)), left)
	if _, err := w.Write(first[:n]); err != nil {
		return 0, err
	}
	left -= n
	for left > 0 {
		k := min(left, fillerSize)
		if _, err := w.Write(block[:k]); err != nil {
			return 0, err
		}
		left -= k
	}
	return size, nil
}

// pagesSizeFor is the size writePages will produce.
func pagesSizeFor(s AppState, memoryBytes int64) int64 { return pagesSize(memoryBytes, pagesHeader(s)) }

// DecodePagesHeader reads the state from the start of pages-1.img.
func DecodePagesHeader(head []byte) (AppState, error) {
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		return AppState{}, errors.New("checkpoint/pages-1.img holds no app state")
	}
	var doc struct {
		App   string          `json:"app"`
		State json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(head[:nl], &doc); err != nil {
		return AppState{}, errors.New("checkpoint/pages-1.img holds no app state")
	}
	if doc.App != pagesMagic {
		return AppState{}, errors.New("checkpoint/pages-1.img was not written by the sample app")
	}
	var s AppState
	if err := json.Unmarshal(doc.State, &s); err != nil || s.Counter < 0 {
		return AppState{}, fmt.Errorf("app state in checkpoint/pages-1.img is invalid: %s", doc.State)
	}
	if _, err := time.Parse(time.RFC3339Nano, s.StartedAt); err != nil {
		return AppState{}, fmt.Errorf("app state startedAt must be a time, got %q", s.StartedAt)
	}
	return s, nil
}
