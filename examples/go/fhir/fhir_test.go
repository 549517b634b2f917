package fhir

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// These tests need no FHIR server: creating a handle sends no request.

func TestCodesMatchHeader(t *testing.T) {
	if CodeNotFound != 10 || CodeGone != 11 || CodeRuntime != 18 {
		t.Fatalf("codes: not found %d, gone %d, runtime %d", CodeNotFound, CodeGone, CodeRuntime)
	}
	if got := CodeString(CodeNotFound); got == "" || got == CodeString(9999) {
		t.Fatalf("CodeString(CodeNotFound) = %q", got)
	}
	if Version() == "" {
		t.Fatal("empty version")
	}
}

func TestErrorsIs(t *testing.T) {
	err := error(&Error{Code: CodeNotFound, Message: "x", HTTPStatus: 404})
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrGone) {
		t.Fatal("errors.Is on codes")
	}
	if errors.Is(ErrNotFound, err) {
		t.Fatal("a non-sentinel must not match as target")
	}
	if s := err.Error(); !strings.Contains(s, "code 10") || !strings.Contains(s, "HTTP 404") {
		t.Fatalf("Error() = %q", s)
	}
}

func TestArgumentErrors(t *testing.T) {
	if _, err := NewServer("not a url", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad URL: %v", err)
	}
	if _, err := NewServer("http://h/fhir\x00x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL: %v", err)
	}
	opts := (&Options{}).AddHeader("Authorization", "secret-value")
	_, err := NewServer("http://127.0.0.1:1/fhir", opts)
	if !errors.Is(err, ErrInvalidArgument) || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("Authorization header: %v", err)
	}
	s, err := NewServer("http://127.0.0.1:1/fhir", (&Options{}).SetMaxAttempts(3).SetRetryStatusCodes())
	if err != nil {
		t.Fatalf("retry options: %v", err)
	}
	s.Close()
	if _, err := NewServer("http://127.0.0.1:1/fhir", (&Options{}).AddCAFile("/nonexistent/ca.pem")); err == nil {
		t.Fatal("missing CA file accepted")
	} else {
		t.Logf("missing CA file: %v", err)
	}
}

func TestFromEnvConfig(t *testing.T) {
	t.Setenv("FHIR_API_URL", "")
	t.Setenv("FHIR_SERVER_URL", "")
	if _, err := FromEnv(true); !errors.Is(err, ErrConfig) {
		t.Fatalf("no URL: %v", err)
	}
	t.Setenv("FHIR_API_URL", "http://127.0.0.1:1/fhir/")
	s, err := FromEnv(true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.BaseURL() != "http://127.0.0.1:1/fhir" {
		t.Fatalf("base URL %q", s.BaseURL())
	}
}

func TestCloseAndConnectError(t *testing.T) {
	s, err := NewServer("http://127.0.0.1:1/fhir", (&Options{}).SetTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("Patient/1"); !errors.Is(err, ErrConnect) {
		t.Fatalf("refused connection: %v", err)
	}
	called := false
	err = s.SearchResources("Patient", func([]byte, string) bool { called = true; return true })
	if !errors.Is(err, ErrConnect) || called {
		t.Fatalf("search: %v, callback called %v", err, called)
	}
	s.Close()
	s.Close()
	if _, err := s.Read("Patient/1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if s.BaseURL() != "" {
		t.Fatal("BaseURL after Close")
	}
}

func TestFinalizerFreesForgottenServers(t *testing.T) {
	before := finalized.Load()
	for i := 0; i < 50; i++ {
		if _, err := NewServer("http://127.0.0.1:1/fhir", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50 && finalized.Load()-before < 50; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	n := finalized.Load() - before
	if n == 0 {
		t.Fatal("no finalizer ran")
	}
	t.Logf("%d forgotten servers finalized (50 created here)", n)
}

// SMART Backend Services without a server: the key and kid are checked at construction, and the
// public JWK Set of the committed test key equals node's.
func TestSmartBackendConstructionAndJWKS(t *testing.T) {
	key := "../../../tests/it/data/smart-p384.sec1.pem"
	if _, err := NewServerSmartBackend("https://ehr.example/fhir", "c", key, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no kid: %v", err)
	}
	opts := (&Options{}).SetSmartKeyID("k1")
	if _, err := NewServerSmartBackend("https://ehr.example/fhir", "c", "/nonexistent/key.pem", opts); !errors.Is(err, ErrIO) {
		t.Fatalf("missing key file: %v", err)
	}
	s, err := NewServerSmartBackend("https://ehr.example/fhir", "c", key, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	jwks, err := SmartPublicJWKS(key, "k1", "")
	want := `"x":"fPZLUs8bzm03M7PVl9m2znDhwjg2cQ2_GdwAPf1tp8bjpMbeoFybUIeO_CXfSn6S"`
	if err != nil || !strings.Contains(string(jwks), want) {
		t.Fatalf("jwks %s, %v", jwks, err)
	}
	if _, err := SmartPublicJWKS(key, "k1", "RS384"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("RS384 for an EC key: %v", err)
	}
}
