module fhirkindling/example

go 1.22
