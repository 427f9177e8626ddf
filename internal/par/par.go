// Package par runs a loop's iterations on a few goroutines: resolving
// configs and probing services are independent per service and mostly
// waiting on the kernel, so a command over hundreds of them uses the
// machine's cores.
package par

import (
	"sync"
	"sync/atomic"
)

// For runs fn(0) … fn(n-1) on workers goroutines and returns when all
// have returned; each i is run once, in no set order.
func For(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
