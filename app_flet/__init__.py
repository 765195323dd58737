"""chatdock's Python client: `headless` (no UI imports), the Flet chat screen and visitor app."""
