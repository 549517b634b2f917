package fhirkindling

import (
	"runtime"
	"sync"
	"syscall"
)

// Callbacks that belong to a handle rather than to one call (the log callback, the request hook)
// run on the thread of the call that triggered them, during it. To re-raise a panic of such a
// callback in the right goroutine after the C call returns, a call that may trigger them locks
// its goroutine to its OS thread and registers a callState under the thread id; the callback
// finds it there. Calls made from inside a callback nest (the previous state is restored).

type callState struct {
	tid      int
	prev     *callState
	panicked bool
	panicVal any
	hookErr  error
}

var calls sync.Map // thread id -> *callState

func enterCall(needed bool) *callState {
	if !needed {
		return nil
	}
	runtime.LockOSThread()
	cs := &callState{tid: syscall.Gettid()}
	if prev, ok := calls.Load(cs.tid); ok {
		cs.prev = prev.(*callState)
	}
	calls.Store(cs.tid, cs)
	return cs
}

// leave unregisters the call; it must run on the call's goroutine (still locked to the thread).
func (cs *callState) leave() {
	if cs == nil {
		return
	}
	if cs.prev != nil {
		calls.Store(cs.tid, cs.prev)
	} else {
		calls.Delete(cs.tid)
	}
	runtime.UnlockOSThread()
}

// rethrow re-raises a callback's panic once everything the call held is released.
func (cs *callState) rethrow() {
	if cs != nil && cs.panicked {
		panic(cs.panicVal)
	}
}

// currentCall is the call running on this thread, or nil (a call not made through this package).
func currentCall() *callState {
	if v, ok := calls.Load(syscall.Gettid()); ok {
		return v.(*callState)
	}
	return nil
}

// recoverInto records a panic of a callback in the current call (dropped when there is none:
// it must not unwind through C frames either way). It reports whether there was a panic.
func recoverInto(r any) bool {
	if r == nil {
		return false
	}
	if cs := currentCall(); cs != nil && !cs.panicked {
		cs.panicked, cs.panicVal = true, r
	}
	return true
}
