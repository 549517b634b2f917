module github.com/fhir-kindling/fhir_kindling/examples/go

go 1.21

require github.com/fhir-kindling/fhir_kindling/bindings/go v0.2.0

// The module is used from this checkout; a program outside the repository drops this line (or
// points it at its own checkout) once the module is published.
replace github.com/fhir-kindling/fhir_kindling/bindings/go => ../../bindings/go
