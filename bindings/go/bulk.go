package fhirkindling

/*
#include <stdint.h>
#include <fhir_kindling.h>

// Implemented in Go (callback.go, //export); the signatures match the generated _cgo_export.h.
extern int fhirGoBulkLine(char *line, size_t len, char *resource_type, int kind, size_t file_index, void *user_data);
extern void fhirGoBulkProgress(char *progress, uint64_t next_poll_ms, void *user_data);

static int fhirgo_bulk_line_trampoline(const char *line, size_t len, const char *resource_type,
                                       fhir_bulk_file_kind kind, size_t file_index, void *user_data) {
	return fhirGoBulkLine((char *)line, len, (char *)resource_type, (int)kind, file_index, user_data);
}

static void fhirgo_bulk_progress_trampoline(const char *progress, uint64_t next_poll_ms, void *user_data) {
	fhirGoBulkProgress((char *)progress, next_poll_ms, user_data);
}

// user_data is a runtime/cgo.Handle (an integer), turned into a void * on the C side.
static fhir_result fhirgo_bulk_set_progress(fhir_bulk_t *bulk, uintptr_t handle, fhir_error_t **error_out) {
	return fhir_bulk_set_progress_callback(bulk, fhirgo_bulk_progress_trampoline, (void *)handle, error_out);
}

static fhir_result fhirgo_bulk_download(const fhir_server_t *server, const fhir_bulk_t *bulk, const char *manifest,
                                        size_t manifest_len, uintptr_t handle, fhir_bulk_summary_t *summary_out,
                                        fhir_error_t **error_out) {
	return fhir_bulk_download(server, bulk, manifest, manifest_len, fhirgo_bulk_line_trampoline, (void *)handle,
	                          summary_out, error_out);
}

static fhir_result fhirgo_bulk_export(const fhir_server_t *server, const fhir_bulk_t *bulk, uintptr_t handle,
                                      char **status_url_out, fhir_bulk_summary_t *summary_out, fhir_error_t **error_out) {
	return fhir_bulk_export(server, bulk, fhirgo_bulk_line_trampoline, (void *)handle, status_url_out, summary_out,
	                        error_out);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"time"
)

// BulkLevel is the level of a Bulk Data export (fhir_bulk_level).
type BulkLevel int

// The export levels.
const (
	BulkSystem  BulkLevel = C.FHIR_BULK_SYSTEM  // [base]/$export: every resource (the default)
	BulkPatient BulkLevel = C.FHIR_BULK_PATIENT // [base]/Patient/$export: every patient's compartment
	BulkGroup   BulkLevel = C.FHIR_BULK_GROUP   // [base]/Group/[id]/$export: the members' compartments
)

// BulkFileKind tells what a file of an export manifest holds (fhir_bulk_file_kind).
type BulkFileKind int

// The file kinds.
const (
	BulkOutput  BulkFileKind = C.FHIR_BULK_OUTPUT  // an output[] file: exported resources
	BulkError   BulkFileKind = C.FHIR_BULK_ERROR   // an error[] file: OperationOutcomes
	BulkDeleted BulkFileKind = C.FHIR_BULK_DELETED // a deleted[] file: Bundles naming deleted resources
)

func (k BulkFileKind) String() string {
	switch k {
	case BulkOutput:
		return "output"
	case BulkError:
		return "error"
	case BulkDeleted:
		return "deleted"
	}
	return "unknown"
}

// BulkFile is the manifest file a line comes from.
type BulkFile struct {
	ResourceType string       // the manifest's type ("Patient"; "OperationOutcome" for an error file)
	Kind         BulkFileKind // output[], error[] or deleted[]
	Index        int          // index in the manifest: output[] first, then error[], then deleted[]
}

// BulkLineFunc receives one NDJSON line (one resource, without its line end) of an export file,
// on the calling goroutine. line is borrowed: it is valid until fn returns and is overwritten by
// the next line, like bufio.Scanner.Bytes; copy it (bytes.Clone) to keep it. Lines of one file
// come in file order; lines of different files may interleave. fn may call methods of the
// Server. Returning ErrBulkStop stops the download and the method returns no error (the
// summary says Stopped); any other error stops it too and is returned as it is. A panic stops
// the download and is re-raised by the method after the C call returned.
type BulkLineFunc func(file BulkFile, line []byte) error

// ErrBulkStop, returned by a BulkLineFunc, stops the download without an error.
var ErrBulkStop = errors.New("fhirkindling: bulk download stopped by the line callback")

// BulkProgressFunc is told, on the calling goroutine, after each poll that found the export still
// running: the server's X-Progress text ("" when it sent none; or a note on a transient failure
// of the status URL) and how long the library waits before polling again. A panic ends the call
// (its cancel token is triggered) and is re-raised by the method.
type BulkProgressFunc func(progress string, nextPoll time.Duration)

// BulkSummary is the totals of a download (fhir_bulk_summary_t).
type BulkSummary struct {
	Files     uint64 // files downloaded completely
	Resources uint64 // lines of output[] files handed over
	Errors    uint64 // lines of error[] files: the export is a partial success when not 0
	Deleted   uint64 // lines of deleted[] files
	Bytes     uint64 // bytes of the lines handed over (line ends excluded)
	Stopped   bool   // the line callback stopped the download
}

// BulkStatus is the answer of one poll (BulkPoll).
type BulkStatus struct {
	Done     bool          // the export is complete
	Manifest []byte        // the completion manifest (JSON, as the server sent it) when Done
	NextPoll time.Duration // while running: how long to wait before polling again
}

// Bulk holds the parameters of a Bulk Data export and the bounds of its polling and downloads
// (a fhir_bulk_t). The zero value (or a nil *Bulk) means a system export of every type with the
// library's defaults: polls 1 s to 60 s apart (HAPI's Retry-After: 120 is cut to the maximum), a
// 24 h polling deadline, 4 parallel downloads, lines up to 64 MiB, 5 attempts per file.
//
// As Options, a Bulk is plain Go data: the setters record values and return b for chaining; the
// library checks them when a call applies them (each call builds its own fhir_bulk_t), so a bad
// value is that call's error, naming the parameter. It is not safe for concurrent mutation, but
// once set up one Bulk may serve many calls, also at the same time.
type Bulk struct {
	ops      []bulkOp
	progress BulkProgressFunc
}

// bulkOp applies one setting to C parameters.
type bulkOp func(cb *C.fhir_bulk_t) *Error

// add records a setter without strings.
func (b *Bulk) add(set func(*C.fhir_bulk_t, **C.fhir_error_t) C.fhir_result) *Bulk {
	b.ops = append(b.ops, func(cb *C.fhir_bulk_t) *Error {
		var cerr *C.fhir_error_t
		return takeError(set(cb, &cerr), cerr)
	})
	return b
}

// str records a setter taking one string ("" is NULL when opt).
func (b *Bulk) str(what, value string, opt bool, set func(*C.fhir_bulk_t, *C.char, **C.fhir_error_t) C.fhir_result) *Bulk {
	b.ops = append(b.ops, func(cb *C.fhir_bulk_t) *Error {
		var cv cstr
		var err error
		if opt {
			cv, err = newOptCStr(what, value)
		} else {
			cv, err = newCStr(what, value)
		}
		if err != nil {
			return err.(*Error)
		}
		defer cv.free()
		var cerr *C.fhir_error_t
		return takeError(set(cb, cv.p, &cerr), cerr)
	})
	return b
}

// count records a setter taking a count, refusing what C cannot hold.
func (b *Bulk) count(what string, n int, max uint64, set func(*C.fhir_bulk_t, C.uint64_t, **C.fhir_error_t) C.fhir_result) *Bulk {
	if n < 0 || uint64(n) > max {
		b.ops = append(b.ops, func(*C.fhir_bulk_t) *Error { return invalidArg(fmt.Sprintf("%s %d is out of range", what, n)) })
		return b
	}
	return b.add(func(cb *C.fhir_bulk_t, e **C.fhir_error_t) C.fhir_result { return set(cb, C.uint64_t(n), e) })
}

// SetLevel chooses the level (fhir_bulk_set_level); groupID is the group's id for BulkGroup
// (1 to 64 letters, digits, '-' or '.') and ignored otherwise.
func (b *Bulk) SetLevel(level BulkLevel, groupID string) *Bulk {
	return b.str("group id", groupID, true, func(cb *C.fhir_bulk_t, g *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_level(cb, C.fhir_bulk_level(level), g, e)
	})
}

// AddType adds a resource type to _type (the export holds only the types added; all when none is).
func (b *Bulk) AddType(resourceType string) *Bulk {
	return b.str("resource type", resourceType, false, func(cb *C.fhir_bulk_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_add_type(cb, v, e)
	})
}

// instant formats t as a FHIR instant in UTC; "" (NULL: clear) for the zero time.
func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// SetSince sets _since: only resources changed after t (the zero time clears it).
func (b *Bulk) SetSince(t time.Time) *Bulk {
	return b.str("_since", instant(t), true, func(cb *C.fhir_bulk_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_since(cb, v, e)
	})
}

// SetUntil sets _until: only resources changed before t (the zero time clears it). Servers may
// not support it; see SetLenient.
func (b *Bulk) SetUntil(t time.Time) *Bulk {
	return b.str("_until", instant(t), true, func(cb *C.fhir_bulk_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_until(cb, v, e)
	})
}

// AddTypeFilter adds a _typeFilter, "Type?search-parameters" such as "Observation?status=final"
// (the library encodes the whole as one parameter value); repeatable.
func (b *Bulk) AddTypeFilter(filter string) *Bulk {
	return b.str("_typeFilter", filter, false, func(cb *C.fhir_bulk_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_add_type_filter(cb, v, e)
	})
}

// SetOutputFormat sets _outputFormat ("" clears it: the server's default, NDJSON). The downloads
// read NDJSON whatever the format.
func (b *Bulk) SetOutputFormat(format string) *Bulk {
	return b.str("_outputFormat", format, true, func(cb *C.fhir_bulk_t, v *C.char, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_output_format(cb, v, e)
	})
}

// SetLenient sends Prefer: handling=lenient with the kick-off: the server may ignore parameters
// it does not support instead of refusing the export.
func (b *Bulk) SetLenient(lenient bool) *Bulk {
	return b.add(func(cb *C.fhir_bulk_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_lenient(cb, C.bool(lenient), e)
	})
}

// SetPollInterval bounds the wait between two polls (and before retrying the kick-off or a
// file): the server's Retry-After is clamped to [min, max]; without one the wait starts at min
// and doubles up to max. max is at most a day (defaults 1 s and 60 s).
func (b *Bulk) SetPollInterval(min, max time.Duration) *Bulk {
	return b.add(func(cb *C.fhir_bulk_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_poll_interval_ms(cb, millis(min), millis(max), e)
	})
}

// SetTimeout bounds the total time waiting for an export (BulkWait, BulkExport) may take, from
// the first poll: past it the call fails with ErrTimeout (the export may still run; wait again
// to resume). 0: none (default 24 h). A context's deadline bounds the whole call as well.
func (b *Bulk) SetTimeout(d time.Duration) *Bulk {
	return b.add(func(cb *C.fhir_bulk_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_timeout_ms(cb, millis(d), e)
	})
}

// SetParallel sets how many files are downloaded at once, 1 to 64 (default 4). Memory stays
// bounded by this number times 256 KiB plus one line each.
func (b *Bulk) SetParallel(n int) *Bulk {
	return b.count("parallel downloads", n, math.MaxInt, func(cb *C.fhir_bulk_t, v C.uint64_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_parallel(cb, C.size_t(v), e)
	})
}

// SetMaxLineBytes sets the longest NDJSON line accepted, 1 KiB to 1 GiB (default 64 MiB); a
// longer one fails the download with ErrLimit.
func (b *Bulk) SetMaxLineBytes(n int) *Bulk {
	return b.count("maximum line length", n, math.MaxInt, func(cb *C.fhir_bulk_t, v C.uint64_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_max_line_bytes(cb, C.size_t(v), e)
	})
}

// SetFileAttempts sets the attempts per file, 1 to 100, the first included (default 5): a file
// that fails transiently is tried again after a backoff, resuming after the lines already
// handed over.
func (b *Bulk) SetFileAttempts(n int) *Bulk {
	return b.count("file attempts", n, math.MaxUint32, func(cb *C.fhir_bulk_t, v C.uint64_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_set_file_attempts(cb, C.uint32_t(v), e)
	})
}

// SetProgress sets the function told about progress while waiting (BulkPoll, BulkWait,
// BulkExport); nil for none.
func (b *Bulk) SetProgress(fn BulkProgressFunc) *Bulk {
	b.progress = fn
	return b
}

// bulkCall is the state of one bulk call behind the cgo.Handle given to the library as the
// user_data of its line and progress callbacks.
type bulkCall struct {
	line     BulkLineFunc
	progress BulkProgressFunc
	stop     context.CancelFunc // ends the call when the progress function panics
	buf      []byte             // the current line, reused
	types    map[int]string     // resource type per file index
	err      error              // the line function's error that stopped the download
	panicked bool
	panicVal any
}

// build makes the C parameters of one call; h is the call's handle (progress user_data).
func (b *Bulk) build(h cgo.Handle) (*C.fhir_bulk_t, *Error) {
	cb := C.fhir_bulk_new()
	if b == nil {
		return cb, nil
	}
	for _, op := range b.ops {
		if e := op(cb); e != nil {
			C.fhir_bulk_free(cb)
			return nil, e
		}
	}
	if b.progress != nil {
		var cerr *C.fhir_error_t
		if e := takeError(C.fhirgo_bulk_set_progress(cb, C.uintptr_t(h), &cerr), cerr); e != nil {
			C.fhir_bulk_free(cb)
			return nil, e
		}
	}
	return cb, nil
}

// liveBulkCalls counts the bulk calls' handles not yet deleted (read by the tests).
var liveBulkCalls atomic.Int64

type bulkFunc func(p *C.fhir_server_t, cb *C.fhir_bulk_t, h C.uintptr_t, e **C.fhir_error_t) C.fhir_result

// bulkDo runs one bulk call on s under ctx with b's parameters (see Server.do), and re-raises a
// panic of the line or progress function once the C call has returned and everything it held
// is freed. With a progress function the call gets a cancel of its own, so that a panic there
// ends it.
func (s *Server) bulkDo(ctx context.Context, b *Bulk, line BulkLineFunc, f bulkFunc) error {
	if ctx == nil {
		ctx = context.Background()
	}
	bc := &bulkCall{line: line}
	if b != nil && b.progress != nil {
		bc.progress = b.progress
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		bc.stop = cancel
	}
	h := cgo.NewHandle(bc)
	liveBulkCalls.Add(1)
	defer func() { h.Delete(); liveBulkCalls.Add(-1) }()
	cb, e := b.build(h)
	if e != nil {
		return e
	}
	defer C.fhir_bulk_free(cb)
	err := s.do(ctx, func(p *C.fhir_server_t, cerr **C.fhir_error_t) C.fhir_result {
		return f(p, cb, C.uintptr_t(h), cerr)
	})
	runtime.KeepAlive(b)
	if bc.panicked {
		panic(bc.panicVal) // the defers free the parameters and the handle as it unwinds
	}
	if err == nil && bc.err != nil && !errors.Is(bc.err, ErrBulkStop) {
		return bc.err
	}
	return err
}

func summary(c *C.fhir_bulk_summary_t) BulkSummary {
	return BulkSummary{Files: uint64(c.files), Resources: uint64(c.resources), Errors: uint64(c.errors),
		Deleted: uint64(c.deleted), Bytes: uint64(c.bytes), Stopped: bool(c.stopped)}
}

// BulkKickoff kicks off an export (fhir_bulk_kickoff: GET the level's $export URL with Prefer:
// respond-async; 429, 503 and transient OperationOutcomes retried) and returns the absolute
// status URL. Keep it to poll, wait, download or cancel later, also from another process. A
// refused export is an *Error with the server's OperationOutcome.
func (s *Server) BulkKickoff(ctx context.Context, b *Bulk) (string, error) {
	var out *C.char
	defer func() { C.fhir_string_free(out) }()
	err := s.bulkDo(ctx, b, nil, func(p *C.fhir_server_t, cb *C.fhir_bulk_t, _ C.uintptr_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_kickoff(p, cb, &out, e)
	})
	if err != nil || out == nil {
		return "", err
	}
	return C.GoString(out), nil
}

// BulkPoll polls the status URL once (fhir_bulk_poll). While the export runs (or the status URL
// failed transiently) the progress function is told and Done is false; once complete, Manifest
// is the completion manifest. A failed export is an *Error with the server's OperationOutcome.
func (s *Server) BulkPoll(ctx context.Context, b *Bulk, statusURL string) (BulkStatus, error) {
	cu, err := newCStr("status URL", statusURL)
	if err != nil {
		return BulkStatus{}, err
	}
	defer cu.free()
	var done C.bool
	var out *C.char
	var n C.size_t
	var next C.uint64_t
	defer func() { C.fhir_string_free(out) }()
	err = s.bulkDo(ctx, b, nil, func(p *C.fhir_server_t, cb *C.fhir_bulk_t, _ C.uintptr_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_poll(p, cb, cu.p, &done, &out, &n, &next, e)
	})
	if err != nil {
		return BulkStatus{}, err
	}
	st := BulkStatus{Done: bool(done), NextPoll: time.Duration(next) * time.Millisecond}
	if out != nil {
		st.Manifest = goBytes(out, n)
	}
	return st, nil
}

// BulkWait polls the status URL until the export completes (fhir_bulk_wait) and returns the
// manifest. Waits follow Retry-After clamped to SetPollInterval's bounds; transient failures of
// the status URL are retried. It also resumes an export kicked off earlier, by another process
// too. Past SetTimeout it fails with ErrTimeout; cancelling ctx ends it, also between polls.
func (s *Server) BulkWait(ctx context.Context, b *Bulk, statusURL string) ([]byte, error) {
	cu, err := newCStr("status URL", statusURL)
	if err != nil {
		return nil, err
	}
	defer cu.free()
	var out *C.char
	var n C.size_t
	defer func() { C.fhir_string_free(out) }()
	err = s.bulkDo(ctx, b, nil, func(p *C.fhir_server_t, cb *C.fhir_bulk_t, _ C.uintptr_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_wait(p, cb, cu.p, &out, &n, e)
	})
	if err != nil || out == nil {
		return nil, err
	}
	return goBytes(out, n), nil
}

// BulkDownload downloads every file of a completion manifest (fhir_bulk_download), handing each
// NDJSON line to fn (see BulkLineFunc). Up to SetParallel files are fetched at once, each
// streamed: memory stays bounded whatever the export size. The token goes only to the FHIR
// server's origin and only when the manifest says requiresAccessToken. error[] files come through
// fn too (Kind BulkError) and are counted in Summary.Errors: the call still succeeds. A stopped
// download returns the summary so far with Stopped set.
func (s *Server) BulkDownload(ctx context.Context, b *Bulk, manifest []byte, fn BulkLineFunc) (BulkSummary, error) {
	if fn == nil {
		return BulkSummary{}, invalidArg("nil line callback")
	}
	var sum C.fhir_bulk_summary_t
	err := s.bulkDo(ctx, b, fn, func(p *C.fhir_server_t, cb *C.fhir_bulk_t, h C.uintptr_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhirgo_bulk_download(p, cb, bytesPtr(manifest), C.size_t(len(manifest)), h, &sum, e)
	})
	runtime.KeepAlive(manifest)
	if err != nil && !sum.stopped {
		return BulkSummary{}, err
	}
	return summary(&sum), err
}

// BulkDownloadToDir downloads every file of a completion manifest into dir (created if missing;
// fhir_bulk_download_to_dir): output-00001-Patient.ndjson, error-00003-OperationOutcome.ndjson,
// ... (names made by the library, never by the server), each written as *.part and renamed when
// complete, plus manifest.json. A file that cannot be written is ErrIO.
func (s *Server) BulkDownloadToDir(ctx context.Context, b *Bulk, manifest []byte, dir string) (BulkSummary, error) {
	cd, err := newCStr("directory", dir)
	if err != nil {
		return BulkSummary{}, err
	}
	defer cd.free()
	var sum C.fhir_bulk_summary_t
	err = s.bulkDo(ctx, b, nil, func(p *C.fhir_server_t, cb *C.fhir_bulk_t, _ C.uintptr_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_download_to_dir(p, cb, bytesPtr(manifest), C.size_t(len(manifest)), cd.p, &sum, e)
	})
	runtime.KeepAlive(manifest)
	if err != nil {
		return BulkSummary{}, err
	}
	return summary(&sum), nil
}

// BulkCancel cancels an export (fhir_bulk_cancel: DELETE its status URL), or tells the server a
// completed export's files may be removed. alreadyGone is true when the server no longer knew
// the export (404/410: finished, cancelled or removed), which counts as done.
func (s *Server) BulkCancel(ctx context.Context, statusURL string) (alreadyGone bool, err error) {
	cu, err := newCStr("status URL", statusURL)
	if err != nil {
		return false, err
	}
	defer cu.free()
	var gone C.bool
	err = s.do(ctx, func(p *C.fhir_server_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhir_bulk_cancel(p, cu.p, &gone, e)
	})
	return bool(gone) && err == nil, err
}

// BulkExport runs a whole export (fhir_bulk_export): BulkKickoff, BulkWait, then BulkDownload
// with fn. statusURL is returned as soon as the kick-off succeeded, also when a later step
// failed (to resume with BulkWait, or to cancel); "" when the kick-off failed.
func (s *Server) BulkExport(ctx context.Context, b *Bulk, fn BulkLineFunc) (statusURL string, sum BulkSummary, err error) {
	if fn == nil {
		return "", BulkSummary{}, invalidArg("nil line callback")
	}
	var url *C.char
	var csum C.fhir_bulk_summary_t
	defer func() { C.fhir_string_free(url) }()
	err = s.bulkDo(ctx, b, fn, func(p *C.fhir_server_t, cb *C.fhir_bulk_t, h C.uintptr_t, e **C.fhir_error_t) C.fhir_result {
		return C.fhirgo_bulk_export(p, cb, h, &url, &csum, e)
	})
	if url != nil {
		statusURL = C.GoString(url)
	}
	if err != nil && !csum.stopped {
		return statusURL, BulkSummary{}, err
	}
	return statusURL, summary(&csum), err
}
