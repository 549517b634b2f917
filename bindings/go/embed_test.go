package fhirkindling

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func slowServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(env(t, "FHIR_SLOW_URL"), (&Options{}).AddCAFile(env(t, "FHIR_TEST_CA")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Cancelling a context ends a request in flight against the real nginx /slow location (which
// answers after 5 s here), with the context's error and the library's.
func TestContextCancellation(t *testing.T) {
	s := slowServer(t)

	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := s.Request(c, "GET", "deadline?delay=5", nil)
	var fe *Error
	if el := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &fe) || fe.Code != CodeTimeout || el > 2*time.Second {
		t.Fatalf("deadline: %v after %v", err, el)
	}

	c2, cancel2 := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel2)
	start = time.Now()
	_, _, err = s.Request(c2, "GET", "cancel?delay=5", nil)
	if el := time.Since(start); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) || el > 2*time.Second {
		t.Fatalf("cancel: %v after %v", err, el)
	}

	// Per-call scopes on one shared handle: cancelling some calls leaves the others alone.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			if i%2 == 1 {
				time.AfterFunc(200*time.Millisecond, cancel)
				_, _, errs[i] = s.Request(c, "GET", "mixed?delay=5", nil)
			} else {
				_, _, errs[i] = s.Request(c, "GET", "mixed?delay=1", nil)
			}
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i%2 == 1) != errors.Is(err, context.Canceled) || (i%2 == 0 && err != nil) {
			t.Fatalf("call %d: %v", i, err)
		}
	}

	// A scoped handle with its own token, shared by two calls; Trigger from another goroutine.
	tok := NewCancel()
	defer tok.Close()
	scoped, err := s.Scope(tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer scoped.Close()
	time.AfterFunc(200*time.Millisecond, tok.Trigger)
	start = time.Now()
	if _, _, err := scoped.Request(ctx, "GET", "token?delay=5", nil); !errors.Is(err, ErrCancelled) || time.Since(start) > 2*time.Second {
		t.Fatalf("token: %v", err)
	}
	if !tok.IsTriggered() {
		t.Fatal("not triggered")
	}
	if _, err := scoped.Capabilities(ctx); !errors.Is(err, ErrCancelled) {
		t.Fatalf("later call through a triggered scope: %v", err)
	}
	if _, _, err := s.Request(WithCallInfo(ctx, new(CallInfo)), "GET", "parent?delay=0", nil); err != nil {
		t.Fatalf("the parent is not cancelled: %v", err)
	}
	timed, err := s.Scope(nil, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer timed.Close()
	if _, _, err := timed.Request(ctx, "GET", "scope-deadline?delay=5", nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("scope deadline: %v", err)
	}
}

func TestCallInfo(t *testing.T) {
	s := hapi(t)
	var info CallInfo
	if _, err := s.SearchAll(WithCallInfo(ctx, &info), "Patient?_count=1&_summary=count"); err != nil {
		t.Fatal(err)
	}
	if info.Status != 200 || info.Requests < 1 || info.Attempts != 1 || info.BytesReceived == 0 || info.Total <= 0 {
		t.Fatalf("call info %+v", info)
	}
	if _, err := s.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	if last, err := s.LastCall(); err != nil || last.Status != 200 {
		t.Fatalf("last call %+v: %v", last, err)
	}
}

// A request hook adds a header the real nginx logs; a hook error refuses the request; log
// records arrive on the calling goroutine; panics in either are re-raised by the method.
func TestLogAndRequestHook(t *testing.T) {
	id := uniq("go-hook")
	var mu sync.Mutex
	var records []string
	var urls []string
	refuse := errors.New("refused by the test hook")
	var mode string
	var nested *Server
	var nestedErr error
	opts := (&Options{}).SetLogCallback(LogDebug, func(level LogLevel, target, message string) {
		mu.Lock()
		records = append(records, target+": "+message)
		mu.Unlock()
		if mode == "log-panic" {
			panic("log panic")
		}
	}).SetRequestHook(func(method, url string, h *Headers) error {
		urls = append(urls, method+" "+url)
		switch mode {
		case "refuse":
			return refuse
		case "nested":
			// A blocking call from inside the call is refused, never a deadlock.
			_, nestedErr = nested.Capabilities(ctx)
			return nil
		case "panic":
			panic("hook panic")
		}
		if err := h.Add("Authorization", "x"); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("reserved header: %v", err)
		}
		return h.Add("X-Test-Id", id)
	})
	s, err := NewServer(env(t, "FHIR_NGINX_HTTP")+"/fhir", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SearchCount(ctx, "Patient"); err != nil {
		t.Fatal(err)
	}
	if len(urls) != 1 || !strings.HasPrefix(urls[0], "GET "+env(t, "FHIR_NGINX_HTTP")) {
		t.Fatalf("hook saw %v", urls)
	}
	// nginx writes its access log line after the answer: wait for it (up to 5 s).
	var log []byte
	for i := 0; i < 50; i++ {
		if log, err = os.ReadFile(env(t, "FHIR_NGINX_ACCESS_LOG")); err == nil && strings.Contains(string(log), `test="`+id+`"`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || !strings.Contains(string(log), `test="`+id+`"`) {
		t.Fatalf("nginx did not log the hook's header %s (%v)", id, err)
	}
	mu.Lock()
	n := len(records)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no log record at debug level")
	}

	nested = s
	mode = "nested"
	if _, err := s.Capabilities(ctx); err != nil || !errors.Is(nestedErr, ErrRuntime) {
		t.Fatalf("blocking call from a hook: %v, outer %v", nestedErr, err)
	}
	mode = "refuse"
	_, err = s.Capabilities(ctx)
	var fe *Error
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, refuse) || !errors.As(err, &fe) || fe.Cause != refuse {
		t.Fatalf("refused: %v", err)
	}
	for _, m := range []string{"panic", "log-panic"} {
		mode = m
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "panic") {
					t.Fatalf("%s: recovered %v", m, r)
				}
			}()
			_, _ = s.Capabilities(ctx)
			t.Fatalf("%s: no panic", m)
		}()
	}
	mode = ""
	if _, err := s.Capabilities(ctx); err != nil {
		t.Fatalf("after the panics: %v", err)
	}
	left := 0
	calls.Range(func(any, any) bool { left++; return true })
	if left != 0 {
		t.Fatalf("%d calls left registered", left)
	}
}

func TestProcessWideLog(t *testing.T) {
	var mu sync.Mutex
	got := 0
	if err := SetLogCallback(LogLevel(9), func(LogLevel, string, string) {}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad level: %v", err)
	}
	if err := SetLogCallback(LogDebug, func(l LogLevel, target, msg string) { mu.Lock(); got++; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	s := hapi(t)
	if _, err := s.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	if err := SetLogCallback(LogOff, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := got
	mu.Unlock()
	if n == 0 {
		t.Fatal("no record through the process-wide callback")
	}
	if _, err := s.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != n {
		t.Fatalf("records after turning logging off: %d -> %d", n, got)
	}
}

// The callbacks' handles live as long as the last Server sharing them (a scoped handle outlives
// its parent here), and a constructor that fails releases them.
func TestCallbackHandlesReleased(t *testing.T) {
	before := liveHandles.Load()
	hooked := 0
	opts := (&Options{}).SetRequestHook(func(string, string, *Headers) error { hooked++; return nil }).
		SetLogCallback(LogWarn, func(LogLevel, string, string) {})
	if _, err := NewServer("not a url", opts); err == nil {
		t.Fatal("bad URL accepted")
	}
	if n := liveHandles.Load() - before; n != 0 {
		t.Fatalf("%d handles left by a failed constructor", n)
	}
	s, err := NewServer(env(t, "FHIR_HAPI_URL"), opts)
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := s.Scope(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := scoped.Capabilities(ctx); err != nil || hooked != 1 {
		t.Fatalf("scoped after the parent's Close: %v, hook ran %d times", err, hooked)
	}
	if n := liveHandles.Load() - before; n != 2 {
		t.Fatalf("%d handles while the scoped handle lives", n)
	}
	scoped.Close()
	if n := liveHandles.Load() - before; n != 0 {
		t.Fatalf("%d handles left after the last Close", n)
	}
}
