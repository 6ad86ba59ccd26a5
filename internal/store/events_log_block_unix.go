//go:build unix

package store

import (
	"syscall"
	"unsafe"
)

// The index's blocks live outside the Go heap, in anonymous mappings: the
// garbage collector lets the heap grow to twice what is live before it
// collects, so a million entries on the heap (40 MB) would cost a listing
// gateway 80 MB of RSS. An entry holds no pointer, so the collector need
// not see them.

const evBlockBytes = evBlockLen * int(unsafe.Sizeof(evEntry{}))

// newEvBlock returns an empty block of capacity evBlockLen.
func newEvBlock() []evEntry {
	mem, err := syscall.Mmap(-1, 0, evBlockBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		// As the runtime does when the heap cannot grow.
		panic("event log index: out of memory: " + err.Error())
	}
	return unsafe.Slice((*evEntry)(unsafe.Pointer(&mem[0])), evBlockLen)[:0]
}

// freeEvBlock returns a block newEvBlock made; nothing may use it after.
func freeEvBlock(blk []evEntry) {
	blk = blk[:cap(blk)]
	_ = syscall.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&blk[0])), evBlockBytes))
}
