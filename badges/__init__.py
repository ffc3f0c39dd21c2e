"""Badge values shared by the kiosk and the server (no heavy dependencies here)."""
