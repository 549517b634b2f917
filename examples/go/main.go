// Command example uses the fhirkindling Go module against a FHIR server:
//
//	FHIR_API_URL=http://127.0.0.1:8080/fhir go run .
//
// It connects as the environment says (fhirkindling.FromEnv), creates a Patient, reads it back,
// streams a search with a deadline, and deletes what it created.
package main

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

func main() {
	// No credential variable set: connect without auth (FromEnv refuses a missing auth mode
	// unless asked for none).
	noAuth := os.Getenv("FHIR_USER") == "" && os.Getenv("FHIR_TOKEN") == "" && os.Getenv("CLIENT_ID") == ""
	s, err := fhirkindling.FromEnv(noAuth, (&fhirkindling.Options{}).SetUserAgent("fhirkindling-go-example"))
	if err != nil {
		log.Fatalf("connect: %v (set FHIR_API_URL)", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Printf("fhir_kindling %s, server %s\n", fhirkindling.Version(), s.BaseURL())

	family := fmt.Sprintf("GoExample%d", time.Now().UnixNano())
	created, err := s.Create(ctx, []byte(`{"resourceType":"Patient","name":[{"family":"`+family+`","given":["Ada"]}]}`))
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(created, &p); err != nil || p.ID == "" {
		log.Fatalf("create answered %s", created)
	}
	ref := "Patient/" + p.ID
	fmt.Println("created", ref)
	if _, err := s.Read(ctx, ref); err != nil {
		log.Fatalf("read: %v", err)
	}

	q, err := fhirkindling.NewQuery("Patient")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	query, err := q.Where("family", ":exact", family).PageSize(10).Build()
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	if _, err := s.SearchResources(ctx, query, func(resource []byte, mode string) bool { n++; return true }); err != nil {
		log.Fatalf("search: %v", err)
	}
	fmt.Printf("search %s: %d match\n", query, n)

	if err := s.Delete(ctx, ref); err != nil {
		log.Fatalf("delete: %v", err)
	}
	if _, err := s.Read(ctx, ref); !errors.Is(err, fhirkindling.ErrGone) {
		log.Fatalf("read after delete: %v (want ErrGone)", err)
	}
	fmt.Println("deleted", ref)
}
