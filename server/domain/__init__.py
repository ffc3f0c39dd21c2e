"""The rules and services of Présence: plain Python on the store.

No Flask, werkzeug or Socket.IO here, and nothing of `server.api`, `server.web`,
`server.jobs`, `server.cli` or `server.runtime`: a rule is tested with a session and a
clock, and any edge (a page, the kiosk API, a command, a job) can call it.
"""
