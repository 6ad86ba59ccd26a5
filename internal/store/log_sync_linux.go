package store

import (
	"os"
	"syscall"
)

// datasync flushes a segment's data (and its size) without the rest of the
// inode's metadata.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
