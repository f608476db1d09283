"""A live Linux process read through /proc (pagemap, /proc/PID/mem), never written to."""
