"""The Docker-free dev stack: embedded AWS, the stack from template.yaml, the handlers run in-process,
the Push API stand-in, and the demo (`relay demo|local|invoke|serve`, and the integration tests)."""
