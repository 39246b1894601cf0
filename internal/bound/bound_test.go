package bound

import (
	"sync"
	"testing"
)

func TestSlotsCapPerKeyAndTotal(t *testing.T) {
	s := NewSlots(2, 3)
	a1, ok1 := s.Acquire("a")
	_, ok2 := s.Acquire("a")
	if !ok1 || !ok2 {
		t.Fatal("two slots for one key under a per-key cap of 2 were refused")
	}
	if _, ok := s.Acquire("a"); ok {
		t.Fatal("a third slot for one key was granted over the per-key cap")
	}
	b1, ok := s.Acquire("b")
	if !ok {
		t.Fatal("another key was refused below the total cap")
	}
	if _, ok := s.Acquire("c"); ok {
		t.Fatal("a fourth slot was granted over the total cap of 3")
	}
	a1()
	a1() // a second release must not free another slot
	if got := s.InUse(); got != 2 {
		t.Fatalf("in use after one release = %d, want 2", got)
	}
	if _, ok := s.Acquire("a"); !ok {
		t.Fatal("a released slot was not given again")
	}
	if _, ok := s.Acquire("c"); ok {
		t.Fatal("a slot was granted over the total cap after the double release")
	}
	b1()
	if _, ok := s.Acquire("c"); !ok {
		t.Fatal("a freed total slot was not given to a new key")
	}
}

func TestSlotsForgetIdleKeys(t *testing.T) {
	s := NewSlots(1, 0)
	for i := 0; i < 100; i++ {
		rel, ok := s.Acquire(string(rune('a' + i%26)))
		if !ok {
			t.Fatal("refused with no total cap")
		}
		rel()
	}
	if len(s.byKey) != 0 || s.InUse() != 0 {
		t.Fatalf("released keys kept: %d keys, %d in use", len(s.byKey), s.InUse())
	}
}

func TestSlotsConcurrent(t *testing.T) {
	s := NewSlots(5, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak, held := 0, 0
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				rel, ok := s.Acquire(string(rune('a' + i%3)))
				if !ok {
					continue
				}
				mu.Lock()
				if held++; held > peak {
					peak = held
				}
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				rel()
			}
		}(i)
	}
	wg.Wait()
	if peak > 8 || s.InUse() != 0 {
		t.Fatalf("peak %d over the total cap of 8, or %d slots leaked", peak, s.InUse())
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(100)
	if !b.Reserve(60) || !b.Reserve(40) {
		t.Fatal("reservations within the budget were refused")
	}
	if b.Reserve(1) {
		t.Fatal("a reservation over the budget was granted")
	}
	b.Release(40)
	if b.Reserve(41) {
		t.Fatal("41 bytes granted with 40 free")
	}
	if !b.Reserve(40) || b.Used() != 100 {
		t.Fatalf("used = %d after refilling, want 100", b.Used())
	}
	var nb *Budget
	if !nb.Reserve(1 << 40) {
		t.Fatal("a nil budget refused")
	}
}

func TestBudgetConcurrentNeverOver(t *testing.T) {
	b := NewBudget(1000)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if b.Reserve(7) {
					if u := b.Used(); u > 1000 {
						t.Errorf("used %d over the budget", u)
					}
					b.Release(7)
				}
			}
		}()
	}
	wg.Wait()
	if b.Used() != 0 {
		t.Fatalf("used = %d after all releases", b.Used())
	}
}

func TestSlotsCapPerGroup(t *testing.T) {
	s := NewSlots(2, 10).PerGroup(3)
	var held []func()
	for _, key := range []string{"a1", "a1", "a2"} {
		rel, ok := s.AcquireIn("tenant-a", key)
		if !ok {
			t.Fatalf("%s refused below its group's cap", key)
		}
		held = append(held, rel)
	}
	if _, ok := s.AcquireIn("tenant-a", "a3"); ok {
		t.Fatal("a fourth slot of one group was granted over the group cap of 3")
	}
	if _, ok := s.AcquireIn("tenant-b", "b1"); !ok {
		t.Fatal("another group was refused while one group is at its cap")
	}
	if _, ok := s.Acquire("loose"); !ok {
		t.Fatal("a key in no group was refused by a group's cap")
	}
	held[0]()
	held[0]()
	if _, ok := s.AcquireIn("tenant-a", "a3"); !ok {
		t.Fatal("a released group slot was not given again")
	}
	for _, rel := range held[1:] {
		rel()
	}
	if _, ok := s.AcquireIn("tenant-a", "a4"); !ok {
		t.Fatal("the group's slots were not given back")
	}
	if got := s.byGroup["tenant-a"]; got != 2 || len(s.byGroup) != 2 {
		t.Fatalf("groups kept %v, want tenant-a holding 2 and tenant-b 1", s.byGroup)
	}
}

// A group's reservations hold at most its share, the others theirs and the
// whole at most the budget; what a group releases is its own again, and a
// group holding nothing is forgotten.
func TestBudgetSharePerGroup(t *testing.T) {
	b := NewBudget(100).PerGroup(60)
	if !b.ReserveIn("a", 50) || b.ReserveIn("a", 20) {
		t.Fatal("group a: 50 then 20 more of a share of 60")
	}
	if !b.ReserveIn("b", 50) || b.ReserveIn("c", 1) {
		t.Fatal("group b's 50 beside a's 50 fill the budget; group c's 1 is refused")
	}
	b.ReleaseIn("a", 50)
	if !b.ReserveIn("c", 50) || b.Used() != 100 {
		t.Fatalf("what a released, c may take: used %d", b.Used())
	}
	b.ReleaseIn("b", 50)
	b.ReleaseIn("c", 50)
	if b.Used() != 0 || len(b.byGroup) != 0 {
		t.Fatalf("all released: used %d, groups %v", b.Used(), b.byGroup)
	}
	if !b.ReserveIn("", 100) {
		t.Fatal("no group: the whole budget")
	}
}
