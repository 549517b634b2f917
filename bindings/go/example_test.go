package fhirkindling_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	fhirkindling "github.com/fhir-kindling/fhir_kindling/bindings/go"
)

// Connect, read the CapabilityStatement and check the FHIR version.
func ExampleNewServer() {
	s, err := fhirkindling.NewServer(os.Getenv("FHIR_HAPI_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	caps, err := s.Capabilities(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	var cs struct {
		FhirVersion string `json:"fhirVersion"`
	}
	_ = json.Unmarshal(caps, &cs)
	fmt.Println(cs.FhirVersion)
	// Output: 4.0.1
}

// Build a search query; names and values are percent-encoded by the library.
func ExampleQuery() {
	q, err := fhirkindling.NewQuery("Patient")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	query, err := q.Where("family", ":exact", "O'Brien Smith").Where("birthdate", "ge", "1970-01-01").PageSize(50).Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(query)
	// Output: Patient?family:exact=O%27Brien%20Smith&birthdate=ge1970-01-01&_count=50
}

// Stream a search resource by resource, stopping after three.
func ExampleServer_SearchResources() {
	ctx := context.Background()
	s, err := fhirkindling.NewServer(os.Getenv("FHIR_HAPI_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ {
		if _, err := s.Create(ctx, []byte(`{"resourceType":"Patient","name":[{"family":"ExampleStream"}]}`)); err != nil {
			log.Fatal(err)
		}
	}
	seen := 0
	_, err = s.SearchResources(ctx, "Patient?family=ExampleStream&_count=2", func(resource []byte, mode string) bool {
		seen++
		return seen < 3
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(seen, "resources")
	// Output: 3 resources
}

// Tell a missing resource from other failures, and read the server's OperationOutcome.
func ExampleError() {
	s, err := fhirkindling.NewServer(os.Getenv("FHIR_HAPI_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_, err = s.Read(context.Background(), "Patient/example-does-not-exist")
	var fe *fhirkindling.Error
	if errors.Is(err, fhirkindling.ErrNotFound) && errors.As(err, &fe) {
		fmt.Println(fe.HTTPStatus, fe.OperationOutcome() != nil)
	}
	// Output: 404 true
}

// Give a call a deadline: the request in flight is abandoned when it passes (here against a
// location that answers after 5 s).
func ExampleServer_Request_deadline() {
	s, err := fhirkindling.NewServer(os.Getenv("FHIR_SLOW_URL"),
		(&fhirkindling.Options{}).AddCAFile(os.Getenv("FHIR_TEST_CA")))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var info fhirkindling.CallInfo
	_, _, err = s.Request(fhirkindling.WithCallInfo(ctx, &info), "GET", "example?delay=5", nil)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, fhirkindling.ErrTimeout), info.Total < 2*time.Second)
	// Output: true true true
}

// A Bulk Data export step by step: kick off, keep the status URL (a later run may resume from it
// with BulkWait), wait with HAPI's "Retry-After: 120" clamped to 2 s, stream every line, then
// delete the export on the server. (Compiled, not run: the package's tests run exports.)
func ExampleServer_BulkKickoff() {
	s, err := fhirkindling.NewServer(os.Getenv("FHIR_HAPI_URL"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b := (&fhirkindling.Bulk{}).SetLevel(fhirkindling.BulkPatient, "").AddType("Patient").
		SetPollInterval(200*time.Millisecond, 2*time.Second).
		SetProgress(func(progress string, next time.Duration) { log.Printf("running (%s), next poll in %v", progress, next) })
	status, err := s.BulkKickoff(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	manifest, err := s.BulkWait(ctx, b, status)
	if err != nil {
		log.Fatal(err)
	}
	ids := map[string]bool{}
	sum, err := s.BulkDownload(ctx, b, manifest, func(f fhirkindling.BulkFile, line []byte) error {
		if f.Kind == fhirkindling.BulkError {
			log.Printf("export error: %s", line)
			return nil
		}
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &r); err != nil { // line is borrowed: keep copies only
			return err
		}
		ids[r.ID] = true
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.Resources == uint64(len(ids)), sum.Errors)
	if _, err := s.BulkCancel(ctx, status); err != nil { // done: the server may delete the files
		log.Fatal(err)
	}
}
