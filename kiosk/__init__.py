"""The kiosk at the door: reads badges, keeps every tap in a spool, uploads them."""
