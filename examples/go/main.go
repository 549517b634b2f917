// Command example exercises the Go wrapper of fhir_kindling against a live FHIR server:
//
//	FHIR_API_URL=http://127.0.0.1:8080/fhir ./example
//
// It creates a Patient, reads it back (also from 8 goroutines at once on one Server), streams a
// search and stops it early, checks the not-found error, deletes what it created and prints
// "N passed, N failed". The exit status is 1 when a check failed, 2 on a usage error.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"fhirkindling/example/fhir"
)

var passed, failed int

func check(name string, ok bool, format string, args ...any) bool {
	if ok {
		passed++
		fmt.Printf("ok   %s\n", name)
	} else {
		failed++
		fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(format, args...))
	}
	return ok
}

type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Name         []struct {
		Family string `json:"family"`
	} `json:"name"`
}

func parse(b []byte) resource {
	var r resource
	_ = json.Unmarshal(b, &r)
	return r
}

func patientJSON(family, given string) []byte {
	b, _ := json.Marshal(map[string]any{
		"resourceType": "Patient",
		"active":       true,
		"name":         []map[string]any{{"family": family, "given": []string{given}}},
	})
	return b
}

func main() {
	base := os.Getenv("FHIR_API_URL")
	if base == "" {
		fmt.Fprintln(os.Stderr, "set FHIR_API_URL, e.g. http://127.0.0.1:8080/fhir")
		os.Exit(2)
	}
	fmt.Printf("fhir_kindling %s, server %s\n", fhir.Version(), base)
	run(base)
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// run performs the checks; it returns early when a step that later ones need fails (its
// deferred clean-up still runs).
func run(base string) {

	// Options are validated by the library when the server is created.
	opts := (&fhir.Options{}).
		AddHeader("X-Request-Source", "fhir-kindling-go-example").
		SetRetryStatusCodes(429, 503).
		SetMaxAttempts(3).
		SetTimeout(30 * time.Second)
	srv, err := fhir.NewServer(base, opts)
	if !check("connect (no auth) with options", err == nil, "%v", err) {
		return
	}
	defer srv.Close()

	bad, err := fhir.NewServer(base, (&fhir.Options{}).AddHeader("Authorization", "Bearer x"))
	check("options: Authorization header refused", bad == nil && errors.Is(err, fhir.ErrInvalidArgument), "err=%v", err)
	_, err = fhir.NewServer("ftp://example.org", nil)
	check("bad base URL gives invalid argument", errors.Is(err, fhir.ErrInvalidArgument), "err=%v", err)

	envSrv, err := fhir.FromEnv(true)
	if check("FromEnv(noAuth)", err == nil && envSrv.BaseURL() == strings.TrimRight(base, "/"), "err=%v", err) {
		envSrv.Close()
	}

	caps, err := srv.Capabilities()
	check("capabilities", err == nil && parse(caps).ResourceType == "CapabilityStatement",
		"err=%v, %d bytes", err, len(caps))

	// Unique family name: this run's resources are found by it, whatever else the server holds.
	family := fmt.Sprintf("GoKindling%d", time.Now().UnixNano())
	var refs []string
	defer func() { // clean-up if a check below bailed out early
		for _, r := range refs {
			_ = srv.Delete(r)
		}
	}()

	created, err := srv.Create(patientJSON(family, "Ada"))
	p := parse(created)
	if !check("create Patient", err == nil && p.ResourceType == "Patient" && p.ID != "", "err=%v body=%s", err, created) {
		return
	}
	ref := "Patient/" + p.ID
	refs = append(refs, ref)

	got, err := srv.Read(ref)
	g := parse(got)
	check("read it back", err == nil && g.ID == p.ID && len(g.Name) == 1 && g.Name[0].Family == family,
		"err=%v body=%s", err, got)

	// One Server, many goroutines: the C handle is thread-safe.
	const workers, perWorker = 8, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	var readErrs []error
	ok := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				b, err := srv.Read(ref)
				mu.Lock()
				if err == nil && parse(b).ID == p.ID {
					ok++
				} else {
					readErrs = append(readErrs, fmt.Errorf("%v (%d bytes)", err, len(b)))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	check(fmt.Sprintf("%d goroutines x %d concurrent reads", workers, perWorker), ok == workers*perWorker,
		"%d/%d ok, errors: %v", ok, workers*perWorker, readErrs)

	// Four more patients of the same family: five matches for the searches.
	for i := 0; i < 4; i++ {
		b, err := srv.Create(patientJSON(family, fmt.Sprintf("Child%d", i)))
		if err != nil {
			check("create more patients", false, "%v", err)
			return
		}
		refs = append(refs, "Patient/"+parse(b).ID)
	}
	query := "Patient?family=" + family + "&_count=2" // pages of 2: streaming crosses pages

	n, err := srv.SearchCount("Patient?family=" + family)
	check("SearchCount", err == nil && n == 5, "err=%v count=%d", err, n)

	all, err := srv.SearchAll(query)
	var bundle struct {
		ResourceType string            `json:"resourceType"`
		Entry        []json.RawMessage `json:"entry"`
	}
	_ = json.Unmarshal(all, &bundle)
	check("SearchAll follows next links", err == nil && bundle.ResourceType == "Bundle" && len(bundle.Entry) == 5,
		"err=%v entries=%d", err, len(bundle.Entry))

	seen, modes := 0, map[string]int{}
	err = srv.SearchResources(query, func(res []byte, mode string) bool {
		if parse(res).ResourceType == "Patient" {
			seen++
		}
		modes[mode]++
		return true
	})
	check("SearchResources streams every resource", err == nil && seen == 5 && modes["match"] == 5,
		"err=%v seen=%d modes=%v", err, seen, modes)

	seen = 0
	var kept [][]byte
	err = srv.SearchResources(query, func(res []byte, mode string) bool {
		seen++
		kept = append(kept, res) // copies: safe to keep after the callback returns
		return seen < 3
	})
	check("SearchResources stops early (3 of 5)", err == nil && seen == 3, "err=%v seen=%d", err, seen)
	runtime.GC()
	check("kept resources stay valid", len(kept) == 3 && parse(kept[2]).ResourceType == "Patient", "kept=%d", len(kept))

	// The callback may call the library on the same handle.
	nested := 0
	err = srv.SearchResources(query, func(res []byte, mode string) bool {
		if b, err := srv.Read("Patient/" + parse(res).ID); err == nil && parse(b).ID != "" {
			nested++
		}
		return true
	})
	check("callback reads through the same Server", err == nil && nested == 5, "err=%v nested=%d", err, nested)

	// A panic in the callback stops the search and comes back out of SearchResources.
	func() {
		defer func() {
			r := recover()
			check("callback panic is re-raised after the C call", r == "boom", "recovered %v", r)
		}()
		_ = srv.SearchResources(query, func([]byte, string) bool { panic("boom") })
		check("callback panic is re-raised after the C call", false, "no panic")
	}()

	// Not found: code, HTTP status and the OperationOutcome body.
	_, err = srv.Read("Patient/go-kindling-missing-" + family)
	var fe *fhir.Error
	if errors.As(err, &fe) {
		check("missing id: not-found code", fe.Code == fhir.CodeNotFound && errors.Is(err, fhir.ErrNotFound),
			"code=%d (%s)", fe.Code, err)
		check("missing id: HTTP 404", fe.HTTPStatus == 404, "status=%d", fe.HTTPStatus)
		check("missing id: OperationOutcome body", parse(fe.Body).ResourceType == "OperationOutcome",
			"body=%q", fe.Body)
		fmt.Printf("     (error text: %v)\n", err)
	} else {
		check("missing id gives a *fhir.Error", false, "err=%v", err)
	}

	_, err = srv.Read("Patient/a\x00b")
	check("NUL byte in a string is refused", errors.Is(err, fhir.ErrInvalidArgument), "err=%v", err)

	// Delete everything created; a deleted resource reads as gone (410) or not found.
	delOK := true
	for _, r := range refs {
		if err := srv.Delete(r); err != nil {
			delOK = check("delete "+r, false, "%v", err)
		}
	}
	check("delete the patients", delOK, "")
	_, err = srv.Read(ref)
	check("read after delete is gone/not found", errors.Is(err, fhir.ErrGone) || errors.Is(err, fhir.ErrNotFound), "err=%v", err)
	refs = nil
	n, err = srv.SearchCount("Patient?family=" + family)
	check("search after delete is empty", err == nil && n == 0, "err=%v count=%d", err, n)

	smartBackend()

	// Close is explicit and idempotent; a forgotten Server is freed by its finalizer.
	tmp, err := fhir.NewServer(base, nil)
	if err == nil {
		tmp.Close()
		tmp.Close()
		_, err = tmp.Read(ref)
		check("use after Close gives ErrClosed", errors.Is(err, fhir.ErrClosed), "err=%v", err)
	}
	for i := 0; i < 20; i++ {
		if s, err := fhir.NewServer(base, nil); err == nil {
			_ = s.BaseURL() // dropped without Close
		}
	}
	runtime.GC()
	runtime.GC()
}

// smartBackend connects with SMART Backend Services through the test gateway (oidc-provider
// behind nginx) when the services' variables are set (scripts/test-all.sh sets them).
func smartBackend() {
	// Plain HTTP, like the provider's token endpoint (from https an http one is refused).
	base, key := os.Getenv("FHIR_NGINX_HTTP"), os.Getenv("FHIR_SMART_EC_SEC1_KEY")
	if base == "" || key == "" {
		fmt.Println("SKIP SMART Backend Services: source the services' services.env")
		return
	}
	_, err := fhir.NewServerSmartBackend(base+"/smart/fhir", "c", key, nil)
	check("SMART without a key id gives invalid argument", errors.Is(err, fhir.ErrInvalidArgument), "err=%v", err)
	opts := (&fhir.Options{}).AddCAFile(os.Getenv("FHIR_TEST_CA")).
		SetSmartKeyID(os.Getenv("FHIR_SMART_EC_KID")).SetSmartScope("system/*.rs")
	s, err := fhir.NewServerSmartBackend(base+"/smart/fhir", os.Getenv("FHIR_SMART_ES384_CLIENT_ID"), key, opts)
	if !check("SMART ES384 connect", err == nil, "err=%v", err) {
		return
	}
	defer s.Close()
	n, err := s.SearchCount("Patient")
	check("SMART: a search through the gateway", err == nil, "err=%v count=%d", err, n)
	scope, err := s.GrantedScope()
	check("SMART: granted scope", err == nil && scope == "system/*.rs", "err=%v scope=%q", err, scope)
	wrong, err := fhir.NewServerSmartBackend(base+"/smart/fhir", os.Getenv("FHIR_SMART_RS384_CLIENT_ID"),
		os.Getenv("FHIR_SMART_OTHER_KEY"), (&fhir.Options{}).AddCAFile(os.Getenv("FHIR_TEST_CA")).SetSmartKeyID("rsa-2048"))
	if check("SMART: unregistered key connects", err == nil, "err=%v", err) {
		_, err = wrong.Capabilities()
		check("SMART: unregistered key gives ErrAuth", errors.Is(err, fhir.ErrAuth), "err=%v", err)
		wrong.Close()
	}
	jwks, err := fhir.SmartPublicJWKS(key, "p384", "")
	check("SMART: public JWKS", err == nil && strings.Contains(string(jwks), `"crv":"P-384"`), "err=%v %s", err, jwks)
}
