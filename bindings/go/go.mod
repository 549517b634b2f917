module github.com/fhir-kindling/fhir_kindling/bindings/go

go 1.21
