"""End-to-end tests: real server, real app, real browser."""
