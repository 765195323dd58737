"""Services: check_*() validates, do_*() writes and emits events; they never commit."""
