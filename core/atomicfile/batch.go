package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// A File is one file of a WriteFiles batch.
type File struct {
	Path string
	Data []byte
	Perm os.FileMode
}

// WriteFiles atomically replaces each file, durably, as WriteFile would,
// and also makes the entries of syncDirs durable (the parent of a
// directory just made, say). It waits for the disk twice in all rather
// than twice per file: the temporary files are synced together, and
// after the renames their directories and syncDirs are; a journaling
// file system commits each group once. Each file is replaced atomically,
// but not the batch: a crash or an error part-way can leave some files
// replaced and others not.
func WriteFiles(files []File, syncDirs ...string) error {
	tmps := make([]*os.File, len(files))
	defer func() {
		for _, f := range tmps {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	dirs := syncDirs
	for i, file := range files {
		dir, base := filepath.Split(file.Path)
		if dir == "" {
			dir = "."
		}
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs[:len(dirs):len(dirs)], dir)
		}
		f, err := os.CreateTemp(dir, "."+base+".tmp-*")
		if err == nil {
			tmps[i] = f
			if _, err = f.Write(file.Data); err == nil {
				err = f.Chmod(file.Perm)
			}
		}
		if err != nil {
			return fmt.Errorf("atomic write %s: %w", file.Path, err)
		}
	}
	if err := syncAll(len(tmps), func(i int) error { return tmps[i].Sync() }); err != nil {
		return fmt.Errorf("atomic write: %w", err)
	}
	for i, f := range tmps {
		err := f.Close()
		if err == nil {
			err = os.Rename(f.Name(), files[i].Path)
		}
		if err != nil {
			return fmt.Errorf("atomic write %s: %w", files[i].Path, err)
		}
		tmps[i] = nil
	}
	return syncAll(len(dirs), func(i int) error { return SyncDir(dirs[i]) })
}

// SyncAll runs the syncs at once and returns the first error: fsyncs
// issued together share a journal commit, so the wait is about one
// fsync's whatever their number.
func SyncAll(syncs ...func() error) error {
	return syncAll(len(syncs), func(i int) error { return syncs[i]() })
}

// syncAll runs fn(0..n-1) at once and returns the first error.
func syncAll(n int, fn func(i int) error) error {
	if n == 1 {
		return fn(0)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
