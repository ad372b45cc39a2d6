package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// StoredImage is one image on the node.
type StoredImage struct {
	ID                  string            `json:"id"` // sha256:<config digest>
	RepoTags            []string          `json:"repoTags"`
	RepoDigests         []string          `json:"repoDigests"`
	Size                int64             `json:"size"`
	ManifestAnnotations map[string]string `json:"manifestAnnotations,omitempty"`
	TargetAnnotations   map[string]string `json:"targetAnnotations,omitempty"`
	Config              ImageConfig       `json:"config"`
	Layers              []Layer           `json:"layers,omitempty"`
	Synthetic           bool              `json:"synthetic,omitempty"`
	PulledAt            time.Time         `json:"pulledAt"`
}

// HexID is the ID without "sha256:" (CRI-O's form).
func (i *StoredImage) HexID() string { return strings.TrimPrefix(i.ID, "sha256:") }

// ImageStore is the node's image store: an index file plus content-addressed blobs, in the
// state dir. Nothing is shared between nodes.
type ImageStore struct {
	mu     sync.Mutex
	dir    string
	images []*StoredImage
}

// OpenImageStore loads (or starts) the store in dir.
func OpenImageStore(dir string) (*ImageStore, error) {
	s := &ImageStore{dir: dir}
	if err := os.MkdirAll(s.BlobDir(), 0o700); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(s.indexPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(raw, &s.images); err != nil {
		return nil, fmt.Errorf("reading image index %s: %w", s.indexPath(), err)
	}
	return s, nil
}

func (s *ImageStore) indexPath() string { return filepath.Join(s.dir, "images.json") }

// BlobDir holds layer and config blobs, named by their sha256 hex.
func (s *ImageStore) BlobDir() string { return filepath.Join(s.dir, "blobs", "sha256") }

// Dir is the store's mountpoint for ImageFsInfo.
func (s *ImageStore) Dir() string { return s.dir }

func (s *ImageStore) saveLocked() error {
	raw, err := json.MarshalIndent(s.images, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.indexPath() + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.indexPath())
}

// Add records a pulled image; a tag or digest moves off any other image that had it.
func (s *ImageStore) Add(img *StoredImage) (*StoredImage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var same *StoredImage
	for _, o := range s.images {
		if o.ID == img.ID {
			same = o
			continue
		}
		o.RepoTags = slices.DeleteFunc(o.RepoTags, func(t string) bool { return slices.Contains(img.RepoTags, t) })
	}
	if same == nil {
		s.images = append(s.images, img)
		same = img
	} else {
		for _, t := range img.RepoTags {
			if !slices.Contains(same.RepoTags, t) {
				same.RepoTags = append(same.RepoTags, t)
			}
		}
		for _, d := range img.RepoDigests {
			if !slices.Contains(same.RepoDigests, d) {
				same.RepoDigests = append(same.RepoDigests, d)
			}
		}
		same.PulledAt = img.PulledAt
	}
	return same, s.saveLocked()
}

// Resolve finds an image by ID (with or without sha256:), by an ID prefix of at least 12,
// by tag or by digest reference.
func (s *ImageStore) Resolve(ref string) *StoredImage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolveLocked(ref)
}

func (s *ImageStore) resolveLocked(ref string) *StoredImage {
	if ref == "" {
		return nil
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if hexIDRe.MatchString(id) {
		for _, i := range s.images {
			if i.HexID() == id {
				return i
			}
		}
	}
	if len(id) >= 12 && !strings.ContainsAny(id, "/:@") {
		for _, i := range s.images {
			if strings.HasPrefix(i.HexID(), id) {
				return i
			}
		}
	}
	r, err := ParseImageRef(ref)
	if err != nil {
		return nil
	}
	if r.Digest != "" {
		want := r.Name() + "@" + r.Digest
		for _, i := range s.images {
			if slices.Contains(i.RepoDigests, want) {
				return i
			}
		}
		return nil
	}
	want := r.Name() + ":" + r.Tag
	for _, i := range s.images {
		if slices.Contains(i.RepoTags, want) {
			return i
		}
	}
	return nil
}

// Remove deletes the image ref resolves to; false when there is none.
func (s *ImageStore) Remove(ref string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img := s.resolveLocked(ref)
	if img == nil {
		return false, nil
	}
	s.images = slices.DeleteFunc(s.images, func(i *StoredImage) bool { return i == img })
	// Blobs another image still uses stay.
	used := map[string]bool{}
	for _, i := range s.images {
		for _, l := range i.Layers {
			used[l.Path] = true
		}
	}
	for _, l := range img.Layers {
		if !used[l.Path] {
			_ = os.Remove(l.Path)
		}
	}
	return true, s.saveLocked()
}

// List returns a copy of the images.
func (s *ImageStore) List() []StoredImage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StoredImage, 0, len(s.images))
	for _, i := range s.images {
		out = append(out, *i)
	}
	return out
}

// UsedBytes sums the image sizes (ImageFsInfo).
func (s *ImageStore) UsedBytes() (uint64, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b uint64
	for _, i := range s.images {
		b += uint64(i.Size)
	}
	return b, uint64(len(s.images))
}

// SyntheticImage stands for an image of a registry this machine cannot reach: a stable
// digest derived from the reference, a plausible size, no annotations, no layers.
func SyntheticImage(given string, ref ImageRef) *StoredImage {
	manifest := ref.Digest
	if manifest == "" {
		sum := sha256.Sum256([]byte("kcr-sim-image:" + given))
		manifest = "sha256:" + hex.EncodeToString(sum[:])
	}
	cfg := sha256.Sum256([]byte("kcr-sim-image-config:" + ref.Name() + "@" + manifest))
	size := 2<<20 + int64(binary.BigEndian.Uint32(cfg[:4])%(48<<20))
	img := &StoredImage{
		ID:          "sha256:" + hex.EncodeToString(cfg[:]),
		RepoDigests: []string{ref.Name() + "@" + manifest},
		Size:        size,
		Config:      ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		Synthetic:   true,
		PulledAt:    time.Now(),
	}
	if ref.Tag != "" {
		img.RepoTags = []string{ref.Name() + ":" + ref.Tag}
	}
	return img
}

// FromPulled turns a registry pull into a store record.
func FromPulled(ref ImageRef, p *Pulled) *StoredImage {
	img := &StoredImage{
		ID:                  p.ConfigDigest,
		Size:                p.Size,
		ManifestAnnotations: p.ManifestAnnotations,
		TargetAnnotations:   p.TargetAnnotations,
		Config:              p.Config,
		Layers:              p.Layers,
		PulledAt:            time.Now(),
	}
	img.RepoDigests = []string{ref.Name() + "@" + p.TopDigest}
	if p.ManifestDigest != p.TopDigest {
		img.RepoDigests = append(img.RepoDigests, ref.Name()+"@"+p.ManifestDigest)
	}
	if ref.Tag != "" {
		img.RepoTags = []string{ref.Name() + ":" + ref.Tag}
	}
	return img
}
