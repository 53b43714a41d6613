package lazy

import (
	"sync"
	"testing"
)

func TestGetComputesOnce(t *testing.T) {
	var v Value[int]
	calls := 0
	compute := func() int { calls++; return 42 }
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := v.Get(compute); got != 42 {
				t.Errorf("Get = %d", got)
			}
		}()
	}
	wg.Wait()
	if got := v.Get(func() int { return 7 }); got != 42 || calls != 1 {
		t.Errorf("Get = %d after %d computations; want 42 after 1", got, calls)
	}
}
