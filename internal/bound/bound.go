// Package bound caps what callers can hold at once: streams per key and in
// total, and bytes buffered across the process. Both refuse at once rather
// than wait, so a caller over a cap gets a fast answer with a retry hint.
package bound

import (
	"sync"
	"sync/atomic"
)

// Slots caps concurrent holders per key, per group of keys (a tenant's
// apps) and in total. A cap of 0 or less turns that cap off.
type Slots struct {
	perKey, perGroup, total int

	mu      sync.Mutex
	byKey   map[string]int
	byGroup map[string]int
	n       int
}

// NewSlots caps holders at perKey for one key and total for all keys.
func NewSlots(perKey, total int) *Slots {
	return &Slots{perKey: perKey, total: total, byKey: map[string]int{}, byGroup: map[string]int{}}
}

// PerGroup caps the holders of one group's keys together at n (see
// AcquireIn), and returns s.
func (s *Slots) PerGroup(n int) *Slots {
	s.perGroup = n
	return s
}

// Acquire takes a slot for key, in no group. It returns false, and takes
// nothing, when key or the total is at its cap. release gives the slot
// back; calling it more than once releases once.
func (s *Slots) Acquire(key string) (release func(), ok bool) {
	return s.AcquireIn("", key)
}

// AcquireIn takes a slot for key of group, as Acquire does, also refusing
// when the group is at its cap. The empty group is no group.
func (s *Slots) AcquireIn(group, key string) (release func(), ok bool) {
	release, full := s.take(group, key)
	return release, full == ""
}

// Cap names which cap refused a slot.
type Cap string

// The caps of Slots.
const (
	CapTotal Cap = "total"
	CapKey   Cap = "key"
	CapGroup Cap = "group"
)

// Take is Acquire that says which cap refused it ("" when it did not), as
// the slots stood at that moment.
func (s *Slots) Take(key string) (release func(), full Cap) { return s.take("", key) }

func (s *Slots) take(group, key string) (release func(), full Cap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total > 0 && s.n >= s.total {
		return nil, CapTotal
	}
	if s.perKey > 0 && s.byKey[key] >= s.perKey {
		return nil, CapKey
	}
	if group != "" && s.perGroup > 0 && s.byGroup[group] >= s.perGroup {
		return nil, CapGroup
	}
	s.n++
	s.byKey[key]++
	if group != "" {
		s.byGroup[group]++
	}
	var once sync.Once
	return func() { once.Do(func() { s.release(group, key) }) }, ""
}

func (s *Slots) release(group, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	// The maps hold only keys and groups in use.
	if s.byKey[key]--; s.byKey[key] <= 0 {
		delete(s.byKey, key)
	}
	if group == "" {
		return
	}
	if s.byGroup[group]--; s.byGroup[group] <= 0 {
		delete(s.byGroup, group)
	}
}

// InUse is the number of slots held.
func (s *Slots) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Budget is a process-wide allowance of bytes, with an optional share for
// each group (a tenant). A nil Budget allows everything.
type Budget struct {
	max  int64
	used atomic.Int64

	perGroup int64
	mu       sync.Mutex
	byGroup  map[string]int64 // groups holding bytes
}

// NewBudget allows max bytes to be reserved at once.
func NewBudget(max int64) *Budget { return &Budget{max: max, byGroup: map[string]int64{}} }

// PerGroup caps the bytes one group's reservations hold together at n (see
// ReserveIn), and returns b.
func (b *Budget) PerGroup(n int64) *Budget {
	b.perGroup = n
	return b
}

// Share is what one group may hold (PerGroup), 0 for no share.
func (b *Budget) Share() int64 {
	if b == nil {
		return 0
	}
	return b.perGroup
}

// ReserveIn takes n bytes for group, as Reserve does, also refusing when
// they would take group past its share. The empty group is no group.
func (b *Budget) ReserveIn(group string, n int64) bool {
	if b == nil || group == "" || b.perGroup <= 0 {
		return b.Reserve(n)
	}
	if n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byGroup[group]+n > b.perGroup || !b.Reserve(n) {
		return false
	}
	b.byGroup[group] += n
	return true
}

// ReleaseIn gives back n bytes that group reserved (ReserveIn).
func (b *Budget) ReleaseIn(group string, n int64) {
	if b == nil || group == "" || b.perGroup <= 0 {
		b.Release(n)
		return
	}
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Release(n)
	// The map holds only groups holding bytes.
	if b.byGroup[group] -= n; b.byGroup[group] <= 0 {
		delete(b.byGroup, group)
	}
}

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
