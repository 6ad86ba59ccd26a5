//go:build !unix

package store

// newEvBlock returns an empty block of capacity evBlockLen (on the Go heap
// where anonymous mappings are not at hand).
func newEvBlock() []evEntry { return make([]evEntry, 0, evBlockLen) }

func freeEvBlock([]evEntry) {}
