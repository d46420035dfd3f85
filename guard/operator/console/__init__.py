"""The operator's console: one command layer (actions) under every transport — the CLI, the
HTTP API and web page (http), and chat."""
