package fhirkindling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run against the real services of tests/servers (HAPI FHIR, nginx with TLS, the
// OpenID Connect provider): source `tests/servers/services.sh env` first. A missing variable
// fails the test: a test that is skipped in CI proves nothing.

func env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: start the services and source the file `tests/servers/services.sh env` prints", name)
	}
	return v
}

func hapi(t testing.TB) *Server {
	t.Helper()
	s, err := NewServer(env(t, "FHIR_HAPI_URL"), (&Options{}).SetTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var ctx = context.Background()

type res struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID string `json:"versionId"`
	} `json:"meta"`
	Total  *int `json:"total"`
	Active bool `json:"active"`
	Entry  []struct {
		Resource res `json:"resource"`
	} `json:"entry"`
	Created []string `json:"created"`
}

func parse(t testing.TB, b []byte) res {
	t.Helper()
	var r res
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("not JSON (%v): %.200s", err, b)
	}
	return r
}

func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano())
}

func patient(family string) []byte {
	b, _ := json.Marshal(map[string]any{"resourceType": "Patient", "active": true,
		"name": []map[string]any{{"family": family}}})
	return b
}

func TestCodesAndErrors(t *testing.T) {
	if CodeNotFound != 10 || CodeLimit != 19 || CodeNotFound.String() == "" {
		t.Fatalf("codes: %d %d %q", CodeNotFound, CodeLimit, CodeNotFound.String())
	}
	if Version() != "0.2.0" && !strings.HasPrefix(Version(), "0.") {
		t.Fatalf("version %q", Version())
	}
	err := error(&Error{Code: CodeNotFound, Message: "x", HTTPStatus: 404})
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrGone) || errors.Is(ErrNotFound, err) {
		t.Fatal("errors.Is on codes")
	}
	wrapped := fmt.Errorf("reading: %w", err)
	var fe *Error
	if !errors.As(wrapped, &fe) || fe.HTTPStatus != 404 {
		t.Fatal("errors.As through a wrap")
	}
	if s := err.Error(); !strings.Contains(s, "code 10") || !strings.Contains(s, "HTTP 404") {
		t.Fatalf("Error() = %q", s)
	}
}

func TestArgumentsAndConfig(t *testing.T) {
	if _, err := NewServer("not a url", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad URL: %v", err)
	}
	if _, err := NewServer("http://h/fhir\x00x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL: %v", err)
	}
	_, err := NewServer("http://127.0.0.1:1/fhir", (&Options{}).AddHeader("Authorization", "secret-value"))
	if !errors.Is(err, ErrInvalidArgument) || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("Authorization header: %v", err)
	}
	if _, err := NewServer("http://127.0.0.1:1/fhir", (&Options{}).SetProxy("gopher", "http://127.0.0.1:1")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("proxy scheme: %v", err)
	}
	if _, err := NewServer("http://127.0.0.1:1/fhir", (&Options{}).AddCAFile("/nonexistent/ca.pem")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing CA file: %v", err)
	}
	// Every setter with a valid value: the library accepts them all.
	all := (&Options{}).AddHeader("X-Test-Id", "go-options").SetProxy("http", "http://127.0.0.1:1").
		SetTimeout(5 * time.Second).SetConnectTimeout(time.Second).SetSystemRoots(true).
		SetInsecureSkipTLSVerify(false).SetRetryStatusCodes(503).SetRetryMethods("GET,PUT").
		SetRetryMaxAttempts(3).SetRetryBackoffFactor(0.1).SetRetryJitter(0.5).
		SetRetryMaxBackoffWait(2 * time.Second).SetUserAgent("go-test").SetOIDCScope("openid").
		SetOIDCAuthMethod("client_secret_post").SetAllowForeignLinks(false).
		SetMaxResponseBytes(1 << 20).SetMaxResultBytes(1 << 22).SetMaxPages(10)
	s, err := NewServer("http://127.0.0.1:1/fhir/", all)
	if err != nil {
		t.Fatalf("all options: %v", err)
	}
	if s.BaseURL() != "http://127.0.0.1:1/fhir" {
		t.Fatalf("base URL %q", s.BaseURL())
	}
	s.Close()
	s.Close() // idempotent
	if _, err := s.Read(ctx, "Patient/1"); !errors.Is(err, ErrClosed) || s.BaseURL() != "" {
		t.Fatalf("after Close: %v", err)
	}
	t.Setenv("FHIR_API_URL", "")
	t.Setenv("FHIR_SERVER_URL", "")
	if _, err := FromEnv(true, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("no URL: %v", err)
	}
	t.Setenv("FHIR_API_URL", env(t, "FHIR_HAPI_URL"))
	fs, err := FromEnv(true, (&Options{}).SetUserAgent("go-from-env"))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := fs.Capabilities(ctx); err != nil {
		t.Fatalf("from env: %v", err)
	}
}

func TestCRUDSearchAndOperations(t *testing.T) {
	s := hapi(t)
	family := uniq("GoCrud")
	created, err := s.Create(ctx, patient(family))
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, created)
	ref := "Patient/" + p.ID
	if p.ID == "" || p.Meta.VersionID != "1" {
		t.Fatalf("created %s", created)
	}
	again, err := s.CreateIfNoneExist(ctx, patient(family), "family="+family)
	if err != nil || parse(t, again).ID != p.ID {
		t.Fatalf("conditional create: %v %s", err, again)
	}
	got, err := s.Read(ctx, ref)
	if err != nil || parse(t, got).ID != p.ID {
		t.Fatalf("read: %v", err)
	}
	upd := []byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"active":false,"name":[{"family":%q}]}`, p.ID, family))
	if out, err := s.Update(ctx, upd); err != nil || parse(t, out).Meta.VersionID != "2" {
		t.Fatalf("update: %v %s", err, out)
	}
	if _, err := s.UpdateIfMatch(ctx, upd, "1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if out, err := s.UpdateConditional(ctx, patient(family+"-c"), "Patient?family="+family+"-c"); err != nil || parse(t, out).ID == "" {
		t.Fatalf("conditional update: %v", err)
	}
	status, body, err := s.Request(ctx, "GET", ref, nil)
	if err != nil || status != 200 || parse(t, body).ID != p.ID {
		t.Fatalf("request: %d %v", status, err)
	}
	many, err := s.ReadMany(ctx, []string{ref, ref})
	if err != nil || !strings.HasPrefix(string(many), "[") {
		t.Fatalf("read many: %v %.200s", err, many)
	}

	q, err := NewQuery("Patient")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	query, err := q.Where("family", ":exact", family).Sort("_id").PageSize(1).Build()
	if err != nil || !strings.HasPrefix(query, "Patient?") {
		t.Fatalf("query %q: %v", query, err)
	}
	q2, _ := NewQuery("Observation")
	defer q2.Close()
	q2s, err := q2.Where("date", "ge", "2020-01-01").Param("_lastUpdated", "gt2020").Include("Observation:patient", false).
		RevInclude("Provenance:target", true).Has("Observation:patient:code", "x|1").Elements("id,code").Build()
	if err != nil || !strings.Contains(q2s, "date=ge2020-01-01") || !strings.Contains(q2s, "_revinclude:iterate=") {
		t.Fatalf("query %q: %v", q2s, err)
	}
	if _, err := q2.Summary("bogus").Build(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad summary: %v", err)
	}
	if _, err := s.SearchFirst(ctx, q2s); err != nil {
		t.Fatalf("observation query: %v", err)
	}
	if _, err := s.Create(ctx, patient(family)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SearchCount(ctx, query); err != nil || n != 2 {
		t.Fatalf("count %d: %v", n, err)
	}
	if b, err := s.SearchAll(ctx, query); err != nil || len(parse(t, b).Entry) != 2 {
		t.Fatalf("search all: %v", err)
	}
	if b, err := s.SearchLimit(ctx, query, 1); err != nil || len(parse(t, b).Entry) != 1 {
		t.Fatalf("search limit: %v", err)
	}
	if b, err := s.SearchFirst(ctx, query); err != nil || parse(t, b).ResourceType != "Bundle" {
		t.Fatalf("search first: %v", err)
	}
	pages := 0
	next, err := s.SearchPages(ctx, query, func(page []byte) bool { pages++; return true })
	if err != nil || pages != 2 || next != "" {
		t.Fatalf("pages %d next %q: %v", pages, next, err)
	}
	var ids []string
	next, err = s.SearchResources(ctx, query, func(r []byte, mode string) bool {
		ids = append(ids, parse(t, r).ID)
		return mode == "match" && false // stop after the first
	})
	if err != nil || len(ids) != 1 || next == "" {
		t.Fatalf("resources %v next %q: %v", ids, next, err)
	}
	hist, err := s.History(ctx, ref, 0)
	if err != nil || len(parse(t, hist).Entry) != 2 {
		t.Fatalf("history: %v %.300s", err, hist)
	}
	if out, err := s.Operation(ctx, ref, "$everything", "GET", nil); err != nil || parse(t, out).ResourceType != "Bundle" {
		t.Fatalf("operation: %v", err)
	}
	if out, err := s.Summary(ctx); err != nil || len(out) < 2 {
		t.Fatalf("summary: %v", err)
	}
	bundle := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"` + ref + `"}}]}`)
	if out, err := s.SendBundle(ctx, bundle); err != nil || parse(t, out).ResourceType != "Bundle" {
		t.Fatalf("bundle: %v", err)
	}
	all, err := s.CreateAll(ctx, []byte(`[`+string(patient(family+"-all"))+`,`+string(patient(family+"-all"))+`]`), 1)
	if err != nil || len(parse(t, all).Created) != 2 {
		t.Fatalf("create all: %v %s", err, all)
	}
	if out, err := s.DeleteMany(ctx, parse(t, all).Created); err != nil || !strings.HasPrefix(string(out), "[") {
		t.Fatalf("delete many: %v", err)
	}
	if err := s.DeleteByQuery(ctx, "Patient?family="+family+"-c"); err != nil {
		t.Fatalf("delete by query: %v", err)
	}
	if err := s.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, ref); !errors.Is(err, ErrGone) {
		t.Fatalf("read deleted: %v", err)
	}
}

// An error carries the server's status and OperationOutcome.
func TestOperationOutcome(t *testing.T) {
	s := hapi(t)
	_, err := s.Read(ctx, "Patient/"+uniq("missing"))
	var fe *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &fe) || fe.HTTPStatus != 404 {
		t.Fatalf("missing: %v", err)
	}
	if oo := fe.OperationOutcome(); !strings.Contains(string(oo), `"issue"`) {
		t.Fatalf("no OperationOutcome: %.300s", fe.Body)
	}
	_, err = s.Create(ctx, []byte(`{"resourceType":"Patient","gender":"not-a-gender"}`))
	if !errors.As(err, &fe) || fe.HTTPStatus != 400 || fe.OperationOutcome() == nil {
		t.Fatalf("invalid resource: %v", err)
	}
	// Through nginx with TLS: the gateway's own OperationOutcome for a wrong token.
	ts, err := NewServerToken(env(t, "FHIR_NGINX_HTTPS")+"/token/fhir", "wrong-token", (&Options{}).AddCAFile(env(t, "FHIR_TEST_CA")))
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	_, err = ts.Capabilities(ctx)
	if !errors.Is(err, ErrAuth) || !errors.As(err, &fe) || fe.HTTPStatus != 401 || fe.OperationOutcome() == nil || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestAuthModes(t *testing.T) {
	tls := (&Options{}).AddCAFile(env(t, "FHIR_TEST_CA"))
	https := env(t, "FHIR_NGINX_HTTPS")
	bs, err := NewServerBasic(https+"/basic/fhir", env(t, "FHIR_BASIC_USER"), env(t, "FHIR_BASIC_PASSWORD"), tls)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if _, err := bs.Capabilities(ctx); err != nil {
		t.Fatalf("basic: %v", err)
	}
	ts, err := NewServerToken(https+"/token/fhir", env(t, "FHIR_STATIC_TOKEN"), tls)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	if _, err := ts.SearchCount(ctx, "Patient"); err != nil {
		t.Fatalf("token: %v", err)
	}
	os, err := NewServerOIDC(https+"/oidc/fhir", env(t, "FHIR_OIDC_CLIENT_ID"), env(t, "FHIR_OIDC_CLIENT_SECRET"), env(t, "FHIR_OIDC_ISSUER"), tls)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Close()
	if _, err := os.Capabilities(ctx); err != nil {
		t.Fatalf("oidc: %v", err)
	}
	if _, err := os.GrantedScope(ctx); err != nil {
		t.Fatalf("oidc scope: %v", err)
	}
	ms, err := NewServer(https+"/mtls/fhir", (&Options{}).AddCAFile(env(t, "FHIR_TEST_CA")).SetClientCert(env(t, "FHIR_TEST_CLIENT_CERT"), env(t, "FHIR_TEST_CLIENT_KEY")))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if _, err := ms.Capabilities(ctx); err != nil {
		t.Fatalf("mtls: %v", err)
	}
	key := env(t, "FHIR_SMART_EC_KEY")
	ss, err := NewServerSmartBackend(env(t, "FHIR_NGINX_HTTP")+"/smart/fhir", env(t, "FHIR_SMART_ES384_CLIENT_ID"), key,
		(&Options{}).SetSmartKeyID(env(t, "FHIR_SMART_EC_KID")).SetSmartAlgorithm("ES384").SetSmartScope("system/*.rs"))
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	if _, err := ss.SearchCount(ctx, "Patient"); err != nil {
		t.Fatalf("smart: %v", err)
	}
	if scope, err := ss.GrantedScope(ctx); err != nil || !strings.Contains(scope, "system/") {
		t.Fatalf("smart scope %q: %v", scope, err)
	}
	jwks, err := SmartPublicJWKS(key, "k1", "")
	if err != nil || !strings.Contains(string(jwks), `"kid":"k1"`) || strings.Contains(string(jwks), `"d"`) {
		t.Fatalf("jwks: %v %s", err, jwks)
	}
	// Through the forward proxy (plain HTTP).
	ps, err := NewServer(env(t, "FHIR_NGINX_HTTP")+"/fhir", (&Options{}).SetProxy("http", env(t, "FHIR_PROXY_URL")))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.Capabilities(ctx); err != nil {
		t.Fatalf("proxy: %v", err)
	}
}

// Many goroutines share one handle (run with -race).
func TestConcurrentCallsOneHandle(t *testing.T) {
	s := hapi(t)
	created, err := s.Create(ctx, patient(uniq("GoConc")))
	if err != nil {
		t.Fatal(err)
	}
	ref := "Patient/" + parse(t, created).ID
	const goroutines, calls = 16, 10
	var wg sync.WaitGroup
	var ok atomic.Int64
	errs := make(chan error, goroutines*calls)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				var err error
				if (g+i)%2 == 0 {
					var b []byte
					if b, err = s.Read(ctx, ref); err == nil && !strings.Contains(string(b), parse(t, created).ID) {
						err = fmt.Errorf("read another resource: %.100s", b)
					}
				} else {
					_, err = s.SearchResources(ctx, "Patient?_count=5", func([]byte, string) bool { return false })
				}
				if err != nil {
					errs <- err
					return
				}
				ok.Add(1)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ok.Load() != goroutines*calls {
		t.Fatalf("%d of %d calls", ok.Load(), goroutines*calls)
	}
	_ = s.Delete(ctx, ref)
}

// A Server nobody closes is freed by its finalizer.
func TestReleaseByFinalizer(t *testing.T) {
	before := finalized.Load()
	for i := 0; i < 20; i++ {
		s, err := NewServer(env(t, "FHIR_HAPI_URL"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Capabilities(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for finalized.Load()-before < 20 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := finalized.Load() - before; n < 20 {
		t.Fatalf("%d of 20 servers finalized", n)
	}
	q, _ := NewQuery("Patient")
	q.Close()
	q.Close()
	if _, err := q.Build(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed query: %v", err)
	}
}

// A panic in a streaming callback stops the search and is re-raised after the C call; the
// handle stays usable and nothing is left registered.
func TestStreamingCallbackPanic(t *testing.T) {
	s := hapi(t)
	if _, err := s.Create(ctx, patient(uniq("GoPanic"))); err != nil {
		t.Fatal(err)
	}
	type boom struct{ n int }
	ncalls := 0
	func() {
		defer func() {
			r := recover()
			if b, ok := r.(boom); !ok || b.n != 7 {
				t.Fatalf("recovered %v", r)
			}
		}()
		_, _ = s.SearchResources(ctx, "Patient?_count=2", func([]byte, string) bool {
			ncalls++
			panic(boom{7})
		})
		t.Fatal("no panic")
	}()
	if ncalls != 1 {
		t.Fatalf("callback ran %d times after panicking", ncalls)
	}
	func() {
		defer func() {
			if r := recover(); r != "page panic" {
				t.Fatalf("recovered %v", r)
			}
		}()
		_, _ = s.SearchPages(ctx, "Patient?_count=2", func([]byte) bool { panic("page panic") })
	}()
	n := 0
	calls.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d calls left registered", n)
	}
	if _, err := s.SearchCount(ctx, "Patient"); err != nil {
		t.Fatalf("after the panics: %v", err)
	}
}

func TestContextDoneBeforeCall(t *testing.T) {
	s := hapi(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Capabilities(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}
