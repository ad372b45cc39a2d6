package sim

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pull brings ref onto the node over transport t (synthetic for registries not on this machine).
func (s *Server) pull(ctx context.Context, ref ImageRef, given string, creds *Creds, t Transport) (*StoredImage, error) {
	lk, _ := s.pullLocks.LoadOrStore(ref.String(), &sync.Mutex{})
	mu := lk.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	if t == TransportSynthetic {
		return s.images.Add(SyntheticImage(given, ref))
	}
	p, err := s.registry.Pull(ctx, ref, creds, t, s.images.BlobDir())
	if err != nil {
		return nil, err
	}
	img := FromPulled(ref, p)
	if s.p.Runtime == RuntimeCRIO && len(img.RepoDigests) == 2 {
		// CRI-O's pulled reference is the platform manifest's digest (copy.Image returns the
		// instance manifest); containerd names the image by what the tag points at.
		img.RepoDigests[0], img.RepoDigests[1] = img.RepoDigests[1], img.RepoDigests[0]
	}
	return s.images.Add(img)
}

// credsFrom reads PullImageRequest.auth as both runtimes do (username/password, or the
// base64 "auth" field, or a registry token).
func credsFrom(a *runtimeapi.AuthConfig) *Creds {
	if a == nil {
		return nil
	}
	c := &Creds{Username: a.GetUsername(), Password: a.GetPassword(), RegistryToken: a.GetRegistryToken()}
	if a.GetAuth() != "" {
		if raw, err := base64.StdEncoding.DecodeString(a.GetAuth()); err == nil {
			if u, p, ok := strings.Cut(string(raw), ":"); ok {
				c.Username, c.Password = u, p
			}
		}
	}
	if c.Username == "" && c.RegistryToken == "" {
		return nil
	}
	return c
}

// PullImage pulls with the credentials the kubelet found in the pod's pull secrets.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	given := req.GetImage().GetImage()
	ref, err := ParseImageRef(given)
	if err != nil {
		return nil, err
	}
	lg := s.log.With("image", given)
	if ns := req.GetSandboxConfig().GetMetadata().GetNamespace(); ns != "" {
		lg = lg.With("namespace", ns, "pod", req.GetSandboxConfig().GetMetadata().GetName())
	}
	t := s.registry.TransportFor(ref.Registry)
	img, err := s.pull(ctx, ref, given, credsFrom(req.GetAuth()), t)
	if err != nil {
		msg := PullErrorText(s.p, ref, err)
		lg.Warn("pull failed", "error", msg)
		return nil, errors.New(msg)
	}
	lg.Info("pulled", "id", img.ID, "synthetic", img.Synthetic)
	if s.p.Runtime == RuntimeCRIO {
		// cri-o v1.34.0 server/image_pull.go: ImageRef is the pulled repo@digest.
		return &runtimeapi.PullImageResponse{ImageRef: img.RepoDigests[0]}, nil
	}
	// containerd v2.1.0 internal/cri/server/images/image_pull.go: the image ID.
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

func (s *Server) criImage(i *StoredImage) *runtimeapi.Image {
	id := i.ID
	var ann map[string]string
	if s.p.Runtime == RuntimeCRIO {
		// CRI-O reports bare hex IDs and the image's manifest annotations.
		id = i.HexID()
		ann = i.ManifestAnnotations
	}
	return &runtimeapi.Image{
		Id: id, RepoTags: append([]string{}, i.RepoTags...), RepoDigests: append([]string{}, i.RepoDigests...),
		Size: uint64(max(i.Size, 1)), Spec: &runtimeapi.ImageSpec{Image: id, Annotations: ann},
	}
}

// ImageStatus: an image that is not there is an empty answer, not an error.
func (s *Server) ImageStatus(_ context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	i := s.images.Resolve(req.GetImage().GetImage())
	if i == nil {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	resp := &runtimeapi.ImageStatusResponse{Image: s.criImage(i)}
	if req.GetVerbose() {
		resp.Info = map[string]string{"info": string(mustJSON(i))}
	}
	return resp, nil
}

// ListImages lists the node's images (optionally one).
func (s *Server) ListImages(_ context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	resp := &runtimeapi.ListImagesResponse{}
	if want := req.GetFilter().GetImage().GetImage(); want != "" {
		if i := s.images.Resolve(want); i != nil {
			resp.Images = append(resp.Images, s.criImage(i))
		}
		return resp, nil
	}
	for _, i := range s.images.List() {
		resp.Images = append(resp.Images, s.criImage(&i))
	}
	return resp, nil
}

// RemoveImage removes an image; removing one that is not there is fine.
func (s *Server) RemoveImage(_ context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	if _, err := s.images.Remove(req.GetImage().GetImage()); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// ImageFsInfo reports the store's usage with a mountpoint (the eviction manager needs it).
func (s *Server) ImageFsInfo(context.Context, *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	used, inodes := s.images.UsedBytes()
	now := time.Now().UnixNano()
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems: []*runtimeapi.FilesystemUsage{{
			Timestamp: now, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: s.images.Dir()},
			UsedBytes: &runtimeapi.UInt64Value{Value: used}, InodesUsed: &runtimeapi.UInt64Value{Value: inodes + 1},
		}},
		// The same filesystem as the images (as CRI-O's graphroot): no split image fs.
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{{
			Timestamp: now, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: s.images.Dir()},
			UsedBytes: &runtimeapi.UInt64Value{Value: 4096}, InodesUsed: &runtimeapi.UInt64Value{Value: 1},
		}},
	}, nil
}

// execMissing: an image whose layers are a checkpoint archive has no programs, so its
// command cannot be found; any other image runs any command (no real binaries here).
func (s *Server) execMissing(img *StoredImage, cmd string) (bool, error) {
	if len(img.Layers) == 0 {
		return false, nil
	}
	var paths []string
	archive := false
	for _, l := range img.Layers {
		paths = append(paths, l.Path)
		if isCheckpointLayer(l.Path) {
			archive = true
		}
	}
	if !archive {
		return false, nil
	}
	files, err := layerFiles(paths)
	if err != nil {
		return false, err
	}
	if strings.Contains(cmd, "/") {
		return !files["/"+cleanName(cmd)], nil
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if files[dir+"/"+cmd] {
			return false, nil
		}
	}
	return true, nil
}
