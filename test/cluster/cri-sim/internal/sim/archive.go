package sim

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Archive is what a runtime reads from a checkpoint (an archive file or a checkpoint image's
// layers, which hold the archive's files at /).
type Archive struct {
	Files   map[string][]byte // small files, by clean name (config.dump, spec.dump, ...)
	Names   []string          // every entry, in order
	State   *AppState         // from checkpoint/pages-1.img, if readable
	PagesOK bool
}

// smallFiles are read whole; everything else only listed.
var smallFiles = map[string]bool{
	"config.dump": true, "spec.dump": true, "status.dump": true, "status": true, "bind.mounts": true,
	"deleted.files": true, "io.kubernetes.cri-o.LogPath": true, "container.log": true, "dump.log": true,
}

func cleanName(n string) string {
	n = strings.TrimPrefix(path.Clean("/"+n), "/")
	return n
}

// openTar returns a tar reader over a plain or gzip stream.
func openTar(r io.Reader) (*tar.Reader, io.Closer, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(2)
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return tar.NewReader(gz), gz, nil
	}
	return tar.NewReader(br), io.NopCloser(nil), nil
}

// ReadArchiveLayers reads the checkpoint files from image layers (later layers win).
func ReadArchiveLayers(paths []string) (*Archive, error) {
	a := &Archive{Files: map[string][]byte{}}
	for _, p := range paths {
		if err := a.readOne(p); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Archive) readOne(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr, closer, err := openTar(f)
	if err != nil {
		return err
	}
	defer closer.Close()
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer %s: %w", filepath.Base(file), err)
		}
		name := cleanName(h.Name)
		if name == "" || name == "." {
			continue
		}
		a.Names = append(a.Names, name)
		switch {
		case smallFiles[name] && h.Typeflag == tar.TypeReg && h.Size <= 16<<20:
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			a.Files[name] = b
		case name == "checkpoint/pages-1.img":
			head := make([]byte, pageSize)
			n, _ := io.ReadFull(tr, head)
			if s, err := DecodePagesHeader(head[:n]); err == nil {
				a.State, a.PagesOK = &s, true
			}
		}
	}
}

// Has reports whether the archive holds name.
func (a *Archive) Has(name string) bool {
	for _, n := range a.Names {
		if n == name {
			return true
		}
	}
	return false
}

// isCheckpointLayer: a layer that is a checkpoint archive (its files at /).
func isCheckpointLayer(file string) bool {
	a := &Archive{Files: map[string][]byte{}}
	if a.readOne(file) != nil {
		return false
	}
	return a.Has("config.dump") && a.Has("checkpoint")
}

// layerFiles lists the regular files and links of the layers, as absolute paths.
func layerFiles(paths []string) (map[string]bool, error) {
	files := map[string]bool{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		tr, closer, err := openTar(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Typeflag != tar.TypeDir {
				files["/"+cleanName(h.Name)] = true
			}
		}
		closer.Close()
		f.Close()
	}
	return files, nil
}

// tarEntry is one entry of an archive being written.
type tarEntry struct {
	name  string
	dir   bool
	mode  int64
	data  []byte
	pages *pagesSpec // streamed instead of data
}

type pagesSpec struct {
	state       AppState
	memoryBytes int64
	containerID string
}

// writeArchive writes entries to path (mode 0600) through a temporary name, so a reader never
// sees a partial archive under the final name.
func writeArchive(dst string, entries []tarEntry, mtime time.Time) error {
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	tw := tar.NewWriter(bw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		case e.pages != nil:
			h.Typeflag, h.Size = tar.TypeReg, pagesSizeFor(e.pages.state, e.pages.memoryBytes)
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.pages != nil {
			if _, err := writePages(tw, e.pages.state, e.pages.memoryBytes, e.pages.containerID); err != nil {
				return err
			}
		} else if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ok = true
	return os.Rename(tmp, dst)
}

// emptyTar is two zero blocks.
func emptyTar() []byte { return make([]byte, 1024) }

// smallTar is a tar of the given files.
func smallTar(files map[string]string, mtime time.Time) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, content := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: mtime, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(content))
	}
	_ = tw.Close()
	return b.Bytes()
}

func writeFileMkdir(p string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, mode)
}
