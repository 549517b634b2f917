package fhirkindling

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bulk Data $export against the real HAPI of tests/servers (BulkDataExportProvider, job reuse
// off). Each test exports only the small data set of this test binary (Patients with an
// identifier system unique to the run, selected by _typeFilter, or a Group of some of them), so
// a job takes a few seconds; HAPI's Retry-After: 120 is clamped to at most 1 s between polls.

type bulkSet struct {
	system  string          // the identifier system of this run
	ids     map[string]bool // every Patient id
	groupID string
	members map[string]bool // the Group's Patient ids
}

var (
	bulkOnce sync.Once
	bulkData bulkSet
	bulkErr  error
)

const bulkPatients = 6

func bulkDataSet(t *testing.T) bulkSet {
	t.Helper()
	bulkOnce.Do(func() {
		s, err := NewServer(env(t, "FHIR_HAPI_URL"), (&Options{}).SetTimeout(30*time.Second))
		if err != nil {
			bulkErr = err
			return
		}
		defer s.Close()
		d := bulkSet{system: "urn:fhir-kindling:go-bulk:" + uniq("run"), ids: map[string]bool{}, members: map[string]bool{}}
		var resources []map[string]any
		for i := 0; i < bulkPatients; i++ {
			resources = append(resources, map[string]any{"resourceType": "Patient", "active": true,
				"identifier": []map[string]any{{"system": d.system, "value": fmt.Sprint(i)}},
				"name":       []map[string]any{{"family": fmt.Sprintf("GoBulk%d", i)}}})
		}
		body, _ := json.Marshal(resources)
		out, err := s.CreateAll(ctx, body, 0)
		if err != nil {
			bulkErr = err
			return
		}
		var created struct {
			Created []string `json:"created"`
		}
		if err := json.Unmarshal(out, &created); err != nil || len(created.Created) != bulkPatients {
			bulkErr = fmt.Errorf("create_all: %v %s", err, out)
			return
		}
		var members []map[string]any
		for i, ref := range created.Created {
			id := strings.TrimPrefix(strings.SplitN(ref, "/_history", 2)[0], "Patient/")
			d.ids[id] = true
			if i%2 == 0 {
				d.members[id] = true
				members = append(members, map[string]any{"entity": map[string]any{"reference": "Patient/" + id}})
			}
		}
		group, _ := json.Marshal(map[string]any{"resourceType": "Group", "type": "person", "actual": true, "member": members})
		g, err := s.Create(ctx, group)
		if err != nil {
			bulkErr = err
			return
		}
		d.groupID = parse(t, g).ID
		bulkData = d
	})
	if bulkErr != nil {
		t.Fatalf("bulk data set: %v", bulkErr)
	}
	return bulkData
}

// ourPatients is a Patient export of this run's data set, polled at most 1 s apart.
func ourPatients(d bulkSet) *Bulk {
	return (&Bulk{}).SetLevel(BulkPatient, "").AddType("Patient").
		AddTypeFilter("Patient?identifier="+d.system+"|").
		SetPollInterval(200*time.Millisecond, time.Second).SetTimeout(60 * time.Second)
}

func hapiBulk(t *testing.T) *Server {
	t.Helper()
	s := hapi(t)
	t.Cleanup(func() {
		if n := liveBulkCalls.Load(); n != 0 {
			t.Errorf("%d bulk call handles left", n)
		}
	})
	return s
}

// lineIDs is a BulkLineFunc collecting Patient ids (each once) from output files.
func lineIDs(t *testing.T, got map[string]bool) BulkLineFunc {
	return func(f BulkFile, line []byte) error {
		if f.Kind != BulkOutput || f.ResourceType != "Patient" {
			return fmt.Errorf("unexpected %s file of %s: %.200s", f.Kind, f.ResourceType, line)
		}
		r := parse(t, line)
		if r.ResourceType != "Patient" || got[r.ID] {
			return fmt.Errorf("line %q: not a new Patient", line)
		}
		got[r.ID] = true
		return nil
	}
}

func sameIDs(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	keys := func(m map[string]bool) []string {
		var k []string
		for id := range m {
			k = append(k, id)
		}
		sort.Strings(k)
		return k
	}
	if g, w := keys(got), keys(want); strings.Join(g, ",") != strings.Join(w, ",") {
		t.Fatalf("%s: got %v, want %v", what, g, w)
	}
}

// The step-by-step calls: kick-off, one poll, wait with progress, download with a callback and
// into a directory, stop from the callback, cancel (DELETE) once done.
func TestBulkStepByStep(t *testing.T) {
	d := bulkDataSet(t)
	s := hapiBulk(t)
	start := time.Now()
	var progress []time.Duration
	b := ourPatients(d).SetProgress(func(p string, next time.Duration) { progress = append(progress, next) })

	status, err := s.BulkKickoff(ctx, b)
	if err != nil || !strings.HasPrefix(status, s.BaseURL()+"/") {
		t.Fatalf("kick-off: %q %v", status, err)
	}
	st, err := s.BulkPoll(ctx, b, status)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Done && (st.Manifest != nil || st.NextPoll <= 0 || st.NextPoll > time.Second) {
		t.Fatalf("poll while running: %+v (HAPI's Retry-After 120 s must be clamped to 1 s)", st)
	}
	manifest, err := s.BulkWait(ctx, b, status)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		RequiresAccessToken bool `json:"requiresAccessToken"`
		Output              []struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"output"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil || len(m.Output) == 0 || m.Output[0].Type != "Patient" {
		t.Fatalf("manifest %s: %v", manifest, err)
	}
	for _, next := range progress {
		if next <= 0 || next > time.Second {
			t.Fatalf("progress told a wait of %v", next)
		}
	}

	got := map[string]bool{}
	sum, err := s.BulkDownload(ctx, b, manifest, lineIDs(t, got))
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "downloaded Patients", got, d.ids)
	if sum.Resources != bulkPatients || sum.Errors != 0 || sum.Files != uint64(len(m.Output)) || sum.Stopped || sum.Bytes == 0 {
		t.Fatalf("summary %+v", sum)
	}

	// Directory mode: the library's names, complete files, the manifest beside them.
	dir := filepath.Join(t.TempDir(), "export")
	dsum, err := s.BulkDownloadToDir(ctx, b, manifest, dir)
	if err != nil || dsum.Resources != bulkPatients {
		t.Fatalf("to dir: %+v %v", dsum, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "output-*-Patient.ndjson"))
	fromFiles := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fromFiles[parse(t, sc.Bytes()).ID] = true
		}
		fh.Close()
	}
	sameIDs(t, "Patients in "+dir, fromFiles, d.ids)
	if saved, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil || len(saved) == 0 {
		t.Fatalf("manifest.json: %v", err)
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, "*.part")); len(parts) != 0 {
		t.Fatalf("left over: %v", parts)
	}

	// The line callback stops the download: ErrBulkStop is no error, another error is returned.
	n := 0
	sum, err = s.BulkDownload(ctx, b, manifest, func(BulkFile, []byte) error { n++; return ErrBulkStop })
	if err != nil || !sum.Stopped || n != 1 || sum.Resources != 1 {
		t.Fatalf("stopped: %+v %v after %d lines", sum, err, n)
	}
	mine := errors.New("my reason")
	sum, err = s.BulkDownload(ctx, b, manifest, func(BulkFile, []byte) error { return mine })
	if !errors.Is(err, mine) || !sum.Stopped {
		t.Fatalf("callback error: %+v %v", sum, err)
	}

	// DELETE once done: the server may remove the files.
	if _, err := s.BulkCancel(ctx, status); err != nil {
		t.Fatalf("delete a completed export: %v", err)
	}
	t.Logf("step by step: %v, %d progress reports", time.Since(start), len(progress))
}

// The one-call export, at group level with _type: exactly the members.
func TestBulkExportGroup(t *testing.T) {
	d := bulkDataSet(t)
	s := hapiBulk(t)
	start := time.Now()
	b := (&Bulk{}).SetLevel(BulkGroup, d.groupID).AddType("Patient").SetParallel(2).SetFileAttempts(3).
		SetMaxLineBytes(1<<20).SetLenient(false).SetPollInterval(200*time.Millisecond, time.Second)
	got := map[string]bool{}
	status, sum, err := s.BulkExport(ctx, b, lineIDs(t, got))
	if err != nil || status == "" {
		t.Fatalf("export: %q %v", status, err)
	}
	sameIDs(t, "group Patients", got, d.members)
	if sum.Resources != uint64(len(d.members)) || sum.Stopped {
		t.Fatalf("summary %+v", sum)
	}
	t.Logf("group export in one call: %v", time.Since(start))
}

// Cancelling the context ends a wait between two polls promptly; the export is then cancelled on
// the server (DELETE), after which a poll is a 404 with HAPI's OperationOutcome.
func TestBulkCancel(t *testing.T) {
	d := bulkDataSet(t)
	s := hapiBulk(t)
	// Polls 5 s apart: the cancel comes in the wait after the first poll.
	// The one-call export gives the status URL also when a later step fails, to resume or cancel.
	b := ourPatients(d).SetPollInterval(5*time.Second, 5*time.Second)
	c, cancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	status, _, err := s.BulkExport(c, b, func(BulkFile, []byte) error { return nil })
	if el := time.Since(start); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) || el > 2*time.Second {
		t.Fatalf("export cancelled by its context: %v after %v", err, el)
	}
	if !strings.HasPrefix(status, s.BaseURL()+"/") {
		t.Fatalf("no status URL after a cancelled wait: %q", status)
	}
	// A context deadline shorter than the next wait: the library does not start a wait that
	// would outlive the deadline, so the call ends with ErrTimeout at once.
	c2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	start = time.Now()
	if _, err = s.BulkWait(c2, b, status); !errors.Is(err, ErrTimeout) || time.Since(start) > time.Second {
		t.Fatalf("wait beyond its context's deadline: %v after %v", err, time.Since(start))
	}

	gone, err := s.BulkCancel(ctx, status)
	if err != nil || gone {
		t.Fatalf("cancel a running export: gone=%v %v", gone, err)
	}
	_, err = s.BulkPoll(ctx, b, status)
	var fe *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &fe) || fe.HTTPStatus != 404 || fe.OperationOutcome() == nil {
		t.Fatalf("poll after cancel: %v", err)
	}
	if _, err := s.BulkCancel(ctx, status); err != nil {
		t.Fatalf("cancel again (already gone counts as done): %v", err)
	}
}

// A group the server does not know is a FHIR error with the server's OperationOutcome; bad
// parameters are refused before any request, naming what is wrong.
func TestBulkErrors(t *testing.T) {
	s := hapiBulk(t)
	_, err := s.BulkKickoff(ctx, (&Bulk{}).SetLevel(BulkGroup, uniq("no-such-group")))
	var fe *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &fe) || fe.HTTPStatus != 404 ||
		!strings.Contains(string(fe.OperationOutcome()), "is not known") {
		t.Fatalf("unknown group: %v", err)
	}
	_, _, err = s.BulkExport(ctx, (&Bulk{}).SetLevel(BulkGroup, uniq("no-such-group")), func(BulkFile, []byte) error { return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("one-call export of an unknown group: %v", err)
	}
	for name, b := range map[string]*Bulk{
		"type":      (&Bulk{}).AddType("Pat1ent"),
		"group id":  (&Bulk{}).SetLevel(BulkGroup, "bad id!"),
		"filter":    (&Bulk{}).AddType("Patient").SetSince(time.Time{}).SetUntil(time.Now()).AddTypeFilter("no question mark"),
		"interval":  (&Bulk{}).SetPollInterval(2*time.Second, time.Second),
		"parallel":  (&Bulk{}).SetParallel(-1),
		"attempts":  (&Bulk{}).SetFileAttempts(0),
		"line":      (&Bulk{}).SetMaxLineBytes(10),
		"format":    (&Bulk{}).SetOutputFormat(strings.Repeat("x", 200)),
		"NUL":       (&Bulk{}).AddType("Pat\x00ient"),
		"too large": (&Bulk{}).SetParallel(65),
	} {
		if _, err := s.BulkKickoff(ctx, b); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	noop := func(BulkFile, []byte) error { return nil }
	if _, err := s.BulkDownload(ctx, nil, []byte(`{"not":"a manifest"}`), noop); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a manifest without output: %v", err)
	}
	if _, err := s.BulkDownloadToDir(ctx, nil, []byte(`not json`), t.TempDir()); !errors.Is(err, ErrJSON) {
		t.Fatalf("a manifest that is not JSON: %v", err)
	}
	if _, err := s.BulkDownload(ctx, nil, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil callback: %v", err)
	}
	if _, err := s.BulkWait(ctx, nil, "http://elsewhere.example/status"); !errors.Is(err, ErrProtocol) {
		t.Fatalf("status URL of another server: %v", err)
	}
}

// A panic in the progress function ends the wait at once (it cannot return an error, so the
// call's token is triggered) and is re-raised after the C call; a panic in the line function
// stops the download and is re-raised too. Every handle is released.
func TestBulkCallbackPanics(t *testing.T) {
	d := bulkDataSet(t)
	s := hapiBulk(t)
	b := ourPatients(d).SetPollInterval(5*time.Second, 5*time.Second).
		SetProgress(func(string, time.Duration) { panic("progress panic") })
	status, err := s.BulkKickoff(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer s.BulkCancel(ctx, status) //nolint:errcheck // cleanup of the server's job
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != "progress panic" {
				t.Fatalf("recovered %v", r)
			}
		}()
		s.BulkWait(ctx, b, status) //nolint:errcheck // panics
		t.Fatal("no panic")
	}()
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("the panic did not end the wait: %v", el)
	}

	manifest, err := s.BulkWait(ctx, ourPatients(d), status)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	func() {
		defer func() {
			if r := recover(); r != "line panic" {
				t.Fatalf("recovered %v", r)
			}
		}()
		s.BulkDownload(ctx, nil, manifest, func(BulkFile, []byte) error { lines++; panic("line panic") }) //nolint:errcheck
	}()
	if lines != 1 {
		t.Fatalf("the download went on after the panic: %d lines", lines)
	}
}
