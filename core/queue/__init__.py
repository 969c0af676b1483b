"""The job queue's moving parts: the worker (claim, lease, heartbeat) and the runner."""
