package store

import (
	"slices"
	"sort"
)

// evEntry is what memory keeps of a record: 40 bytes, its fields ordered
// so that none pads.
type evEntry struct {
	kt       uint64 // the key's time
	kd       uint32 // the key's digest
	idHash   uint32 // of the Webhook-Id (eventLog.idHash)
	rec      evLoc  // the record frame; seg 0 while only attempts arrived
	att      evLoc  // the latest attempt frame; seg 0 when none
	metaLen  uint16 // of the record's metadata, read by a listing
	attempts uint16 // attempts recorded, at most 65535
	state    byte   // eventStates: the latest attempt's result, else the record's
}

func (e *evEntry) key() evKey { return evKey{e.kt, e.kd} }

// evBlockLen is the size of the index's blocks: a block is filled before
// the next is allocated, so the index costs its entries and no slack
// beyond one block, and an insertion out of order moves one block's tail.
const evBlockLen = 4096

// evIndex is the entries sorted by key, in blocks.
type evIndex struct {
	blocks [][]evEntry // none empty
}

// search returns the place of the first entry whose key is k or after it:
// (len(blocks), 0) when there is none.
func (x *evIndex) search(k evKey) (b, i int) {
	b = sort.Search(len(x.blocks), func(b int) bool {
		blk := x.blocks[b]
		return !blk[len(blk)-1].key().less(k)
	})
	if b == len(x.blocks) {
		return b, 0
	}
	blk := x.blocks[b]
	return b, sort.Search(len(blk), func(i int) bool { return !blk[i].key().less(k) })
}

// get returns the entry of k, or nil.
func (x *evIndex) get(k evKey) *evEntry {
	b, i := x.search(k)
	if b == len(x.blocks) || x.blocks[b][i].key() != k {
		return nil
	}
	return &x.blocks[b][i]
}

// insert adds e, whose key the index does not hold, and returns its place
// (valid until the next change).
func (x *evIndex) insert(e evEntry) *evEntry {
	b, i := x.search(e.key())
	if b == len(x.blocks) { // the usual case: the newest key
		if b == 0 || len(x.blocks[b-1]) == evBlockLen {
			x.blocks = append(x.blocks, newEvBlock())
			b++
		}
		blk := append(x.blocks[b-1], e)
		x.blocks[b-1] = blk
		return &blk[len(blk)-1]
	}
	if len(x.blocks[b]) == evBlockLen {
		// A key a little older than the newest (answers finish out of
		// order) splits the last block where it goes: the block keeps
		// the entries before it, and a new last block, filled by the
		// next keys, takes the few after. Halving it instead would leave
		// the lower half's capacity unused for good, each time: measured
		// at a million records, 79 bytes a record instead of 40.
		split := evBlockLen / 2
		if b == len(x.blocks)-1 && i >= split {
			split = i
		}
		upper := append(newEvBlock(), x.blocks[b][split:]...)
		x.blocks[b] = x.blocks[b][:split]
		x.blocks = slices.Insert(x.blocks, b+1, upper)
		if i > split {
			b, i = b+1, i-split
		}
	}
	x.blocks[b] = slices.Insert(x.blocks[b], i, e)
	return &x.blocks[b][i]
}

// removeIf drops the entries drop reports, and the blocks left empty.
func (x *evIndex) removeIf(drop func(*evEntry) bool) {
	blocks := x.blocks[:0]
	for _, blk := range x.blocks {
		kept := blk[:0]
		for i := range blk {
			if !drop(&blk[i]) {
				kept = append(kept, blk[i])
			}
		}
		if len(kept) > 0 {
			blocks = append(blocks, kept)
		} else {
			freeEvBlock(blk)
		}
	}
	clear(x.blocks[len(blocks):])
	x.blocks = blocks
}

// free returns every block; the index is empty after.
func (x *evIndex) free() {
	for _, blk := range x.blocks {
		freeEvBlock(blk)
	}
	x.blocks = nil
}

// before returns the place of the last entry before k, ok false when
// there is none.
func (x *evIndex) before(k evKey) (b, i int, ok bool) {
	b, i = x.search(k)
	if i > 0 {
		return b, i - 1, true
	}
	if b == 0 {
		return 0, 0, false
	}
	return b - 1, len(x.blocks[b-1]) - 1, true
}

// descend calls fn with the entries before k, newest first, until fn
// returns false.
func (x *evIndex) descend(k evKey, fn func(*evEntry) bool) {
	b, i, ok := x.before(k)
	if !ok {
		return
	}
	for ; b >= 0; b-- {
		blk := x.blocks[b]
		if i < 0 {
			i = len(blk) - 1
		}
		for ; i >= 0; i-- {
			if !fn(&blk[i]) {
				return
			}
		}
	}
}
