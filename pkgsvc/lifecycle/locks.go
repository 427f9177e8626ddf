package lifecycle

import (
	"context"
	"fmt"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
)

// lockCtx is lock that gives up when ctx ends: a supervisor must not
// hang on a service another command holds. It tries without blocking and
// then waits on the lock in a goroutine that lets go of it if nobody
// wants it any more.
func (p *Manager) lockCtx(ctx context.Context, s *pkgsvc.Service) (func(), error) {
	if ctx.Done() == nil {
		return p.lock(s)
	}
	type result struct {
		unlock func()
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		u, err := p.lock(s)
		ch <- result{u, err}
	}()
	select {
	case r := <-ch:
		return r.unlock, r.err
	case <-ctx.Done():
		go func() { // release it if it comes
			if r := <-ch; r.err == nil {
				r.unlock()
			}
		}()
		return nil, fmt.Errorf("waiting for the lock of %s: %w", s.Name, ctx.Err())
	}
}

// lock takes the service's flock (SPEC §4.10); the returned func releases
// it. The kernel drops it if servicectl dies, so no lock outlives us.
func (p *Manager) lock(s *pkgsvc.Service) (func(), error) {
	f, err := fsio.Lock(s.LockFile(p.Playpen))
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
