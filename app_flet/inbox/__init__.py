"""chatdock-inbox: the agent inbox (Flet)."""
