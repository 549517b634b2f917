// Package fhirkindling is the Go binding of fhir_kindling, a native FHIR REST client with a C
// API (include/fhir_kindling.h). It binds the whole C API: every constructor (no auth, basic,
// static token, OpenID Connect, SMART Backend Services, the environment), every option, reads,
// searches (collected, limited, first page, count, streamed by page or by resource), the query
// builder, create/update/delete in their plain, conditional and batch forms, transaction and
// batch Bundles, history, operations, the server summary, capabilities, raw requests and the
// HL7 Bulk Data export.
//
// # Getting it
//
//	go get github.com/fhir-kindling/fhir_kindling/bindings/go
//
// The module path names the project's repository; until it is published, use a replace
// directive pointing at a checkout (go mod edit -replace
// github.com/fhir-kindling/fhir_kindling/bindings/go=/path/to/fhir_kindling/bindings/go), as
// examples/go does.
//
// # Linking
//
// The package builds on Linux, the library's platform (it uses the thread id to route a
// callback's panic back to its call). It uses cgo and links the installed C library through pkg-config:
//
//	scripts/install.sh $HOME/.local            # or make install, the release archive, the .deb
//	export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
//	export CGO_LDFLAGS="-Wl,-rpath,$HOME/.local/lib"   # or LD_LIBRARY_PATH at run time
//	go build ./...
//
// With the build tag fhir_kindling_static the static library (libfhir_kindling.a) is linked into
// the program instead; see link_static.go for the environment it needs.
//
// # Contexts
//
// Every method that talks to the server takes a context.Context. A context that is already done
// fails the call before it starts. A context that can end (WithCancel, WithTimeout, ...) gives
// the call its own cancel token and scoped handle (fhir_server_scope): cancelling the context
// ends the request in flight promptly (ErrCancelled, matching context.Canceled too), and its
// deadline is the call's deadline across every attempt, backoff wait and page (ErrTimeout,
// matching context.DeadlineExceeded). context.Background() costs nothing extra. For a token or a
// deadline shared by several calls, use NewCancel and Server.Scope; WithCallInfo gives one call's
// record (status, attempts, bytes, timings). Constructors send no request and take no context.
//
// # Logging and request hooks
//
// SetLogCallback (process-wide) and Options.SetLogCallback (one Server) receive the library's log
// records on the goroutine of the call they belong to; Options.SetRequestHook adds headers (a
// traceparent) to every attempt or refuses it. A panic in either is re-raised by the method that
// made the call, after the C call returned.
//
// # Bulk Data export
//
// A Bulk holds an export's parameters (level, _type, _since, _typeFilter, ...) and the bounds of
// its polling and downloads; like Options it is plain Go data checked by the call that uses it.
// BulkExport does it all in one call; BulkKickoff returns the status URL to keep (resume later,
// from another process too), BulkPoll polls once, BulkWait polls until done (Retry-After clamped
// to SetPollInterval's bounds), BulkDownload streams every NDJSON line to a BulkLineFunc and
// BulkDownloadToDir writes the files, BulkCancel deletes the export. The line passed to a
// BulkLineFunc is borrowed: valid until it returns, overwritten by the next line (copy it to keep
// it); returning ErrBulkStop stops the download without an error. A context cancels a wait
// between polls or a download between two lines; a panic in the line or progress function ends
// the call and is re-raised by it.
//
// # Errors
//
// A failed call returns an *Error with the library's result code, message, the HTTP status and
// the server's body (often an OperationOutcome; see Error.OperationOutcome). Test the code with
// errors.Is against the sentinels (ErrNotFound, ErrAuth, ...) and get the details with
// errors.As. A call ended by its context matches both ctx.Err() and the *Error.
//
// # Memory and concurrency
//
// Every buffer the library returns is copied into Go memory and freed before the method returns;
// callers never see C memory. A Server is safe for concurrent use by many goroutines; only Close
// must not race with calls on it. Close is idempotent, and a finalizer frees a Server (or Query)
// that was not closed; runtime.KeepAlive keeps a Server alive during each C call. Callbacks
// (streaming searches) run on the calling goroutine and reach their Go function through a
// runtime/cgo.Handle; a panic in one stops the search and is re-raised by the method after the C
// call has returned and released everything.
//
// # Tests
//
// The package's tests and examples run against the project's real test services:
//
//	tests/servers/services.sh start && set -a && . "$(tests/servers/services.sh env)" && set +a
//	cd bindings/go && go vet ./... && go test -race ./...
package fhirkindling
