package focusllm

import "sync"

// owner holds a library handle (P: its C pointer type) that calls borrow (acquire, then release when the call
// returns). close marks it closed and frees it at once when no call uses it, or else when the
// last call returns; cancel, when set, stops the running calls first. Close never blocks.
type owner[P comparable] struct {
	mu     sync.Mutex
	ptr    P // the zero value (nil) once freed
	active int
	closed bool
	free   func(P)
	cancel func(P) // nil: running calls finish normally
}

// acquire returns the handle for one call, which must end with release; after close, an
// error wrapping ErrClosed that names method.
func (o *owner[P]) acquire(method string) (P, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		var none P
		return none, closedError(method)
	}
	o.active++
	return o.ptr, nil
}

// release ends a call; the last call to end after close frees the handle.
func (o *owner[P]) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.active--
	var none P
	if o.closed && o.active == 0 && o.ptr != none {
		o.free(o.ptr)
		o.ptr = none
	}
}

// close is idempotent; it reports whether this call closed the handle.
func (o *owner[P]) close() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.closed = true
	switch {
	case o.active == 0:
		var none P
		o.free(o.ptr)
		o.ptr = none
	case o.cancel != nil:
		o.cancel(o.ptr)
	}
	return true
}
