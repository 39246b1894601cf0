// Package bound caps what callers can hold at once: streams per key and in
// total, and bytes buffered across the process. Both refuse at once rather
// than wait, so a caller over a cap gets a fast answer with a retry hint.
package bound

import (
	"sync"
	"sync/atomic"
)

// Slots caps concurrent holders per key and in total. A cap of 0 or less
// turns that cap off.
type Slots struct {
	perKey, total int

	mu    sync.Mutex
	byKey map[string]int
	n     int
}

// NewSlots caps holders at perKey for one key and total for all keys.
func NewSlots(perKey, total int) *Slots {
	return &Slots{perKey: perKey, total: total, byKey: map[string]int{}}
}

// Acquire takes a slot for key. It returns false, and takes nothing, when
// key or the total is at its cap. release gives the slot back; calling it
// more than once releases once.
func (s *Slots) Acquire(key string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total > 0 && s.n >= s.total {
		return nil, false
	}
	if s.perKey > 0 && s.byKey[key] >= s.perKey {
		return nil, false
	}
	s.n++
	s.byKey[key]++
	var once sync.Once
	return func() { once.Do(func() { s.release(key) }) }, true
}

func (s *Slots) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if s.byKey[key]--; s.byKey[key] <= 0 {
		delete(s.byKey, key) // the map holds only keys in use
	}
}

// InUse is the number of slots held.
func (s *Slots) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Budget is a process-wide allowance of bytes. A nil Budget allows
// everything.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget allows max bytes to be reserved at once.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Reserve takes n bytes; it returns false, and takes nothing, when they
// would exceed the budget.
func (b *Budget) Reserve(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		used := b.used.Load()
		if used+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release gives back n reserved bytes.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
}

// Used is the number of bytes reserved.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Max is the budget's size.
func (b *Budget) Max() int64 {
	if b == nil {
		return 0
	}
	return b.max
}
