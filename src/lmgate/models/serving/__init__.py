"""Models behind OpenAI-compatible servers: the client (`endpoint`), the servers lmgate starts
(`serve`, `serve_watchdog`), and what it accepts from them (`answers`, `deadline`, `echo`)."""
